"""Which Redis a ``redis`` cache talks to: one server, a Sentinel-watched primary, or a Cluster.

Parses the cache's ``url`` (and its ``cluster`` option) into a :class:`Topology`;
:mod:`tokenrack.cache.redis` (the only module that imports ``redis``) builds the client.

URL forms (user name and password in the user info are optional, as for ``redis://``)::

    redis://host:port/db                       one server (rediss:// for TLS, unix:///path)
    redis+sentinel://host:port,host:port/service_name/db   primary found by the sentinels
    rediss+sentinel://...                      the same over TLS (to sentinels and servers)
    redis+cluster://host:port,host:port        Redis Cluster, started from any listed node
    rediss+cluster://...                       the same over TLS

``redis://host:port`` with the option ``cluster: true`` is the same as ``redis+cluster://``.
A sentinel without a port is on 26379; a server or cluster node without one on 6379.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

__all__ = ["SCHEMES", "Topology", "parse_topology"]

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
"""Every URL scheme the ``redis`` cache accepts."""

_SENTINEL_PORT = 26379
_REDIS_PORT = 6379

Kind = Literal["server", "sentinel", "cluster"]


@dataclass(frozen=True, slots=True)
class Topology:
    """Where the records live, as parsed from a password-free URL.

    Attributes:
        kind: ``server`` (one Redis, or a unix socket), ``sentinel`` or ``cluster``.
        url: The URL for redis-py (``server`` only: ``from_url`` reads it).
        nodes: The sentinels, or the cluster's startup nodes, as (host, port).
        service_name: The primary's name at the sentinels (``sentinel`` only).
        db: The database number (``sentinel`` only; a cluster has only 0).
        username: A user name from the URL's user info, if any.
        tls: Whether connections use TLS.
    """

    kind: Kind
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    db: int = 0
    username: str | None = None
    tls: bool = False


def parse_topology(url: str, *, cluster: bool = False) -> Topology:
    """The topology a password-free ``url`` names.

    Args:
        url: The cache's ``url``, its password already taken out.
        cluster: The ``cluster`` option (a ``redis://`` or ``rediss://`` URL then names a
            cluster node).

    Raises:
        ValueError: The URL is not one of the forms above (the message never repeats it).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    base, _, variant = scheme.partition("+")
    tls = base == "rediss"
    if cluster and variant == "sentinel":
        raise ValueError("cluster: true does not go with a redis+sentinel:// url")
    if cluster and not variant:
        if scheme == "unix":
            raise ValueError("cluster: true needs a redis:// or rediss:// node, not a socket")
        variant = "cluster"
    if not variant:
        return Topology("server", url, tls=tls)
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = unquote(userinfo.partition(":")[0]) if at and userinfo.partition(":")[0] else None
    default_port = _SENTINEL_PORT if variant == "sentinel" else _REDIS_PORT
    nodes = tuple(_node(item, default_port) for item in hosts.split(","))
    segments = [unquote(s) for s in path.split("?")[0].split("/") if s]
    if variant == "cluster":
        if segments not in ([], ["0"]):
            raise ValueError("a Redis Cluster has only database 0: leave the path empty")
        return Topology("cluster", url, nodes=nodes, username=username, tls=tls)
    if not segments or len(segments) > 2:
        raise ValueError("a sentinel URL ends in /service_name or /service_name/db")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError("the database after the service name must be a number")
        db = int(segments[1])
    return Topology(
        "sentinel",
        url,
        nodes=nodes,
        service_name=segments[0],
        db=db,
        username=username,
        tls=tls,
    )


def _node(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError("every host in the list needs a name (host:port,host:port)")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r} for host {host}")
    return host, int(port_text)
