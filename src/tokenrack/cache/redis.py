"""The ``redis`` cache backend: one token per fleet.

The only module that imports the ``redis`` package (the ``tokenrack[redis]`` extra), and
only when a profile first uses this backend: ``import tokenrack`` never does.

Keys: ``<key_prefix>token:<cache key>`` holds the record, with a TTL of the token's
remaining lifetime; ``<key_prefix>lock:<cache key>`` is the refresh lock, taken with
``SET lock <random owner> NX PX <lease>`` and released by a Lua script that deletes it only
if it still holds our owner value (compare-and-delete), so a holder whose lease ran out can
never release the lock of the process that took over. A lock whose value is not an owner
value of that shape (32 hex digits), or that never expires or outlives the lease, was not
set by tokenrack and is treated as absent.

A lock command that times out may still have run on the server (the client gave up, Redis
did not): its owner value is kept, and later commands release that lock by compare-and-delete
until its lease has passed, so a hiccup never leaves a lock that nobody holds for a lease.

A record is read with ``GETRANGE`` up to one byte past
:data:`~tokenrack.cache.envelope.MAX_RECORD_BYTES`, so a planted giant value costs a reader
64 KiB, not its size; the shared layer refuses it as too large. ``rediss://`` connections
check the server's certificate and host name (set explicitly, whatever redis-py's default).
A password in the URL is taken out of it at once: the object keeps only the redacted URL.

Topologies (:mod:`tokenrack.cache.redis_topology`): one server, a primary found by Redis
Sentinels (``redis+sentinel://``) or a Redis Cluster (``redis+cluster://``, or
``cluster: true``). In a cluster, the cache key is each key's hash tag
(``<prefix>token:{<cache key>}``, ``<prefix>lock:{<cache key>}[:takeover]``), so a token's
record and locks share one slot; the other topologies keep the names without braces.

Every command runs with the configured ``timeout`` on connect and on each read, with no
client-side retries (but one, on a refused or dropped connection, behind Sentinels or in a
Cluster, to follow a failover): a slow or dead Redis costs a caller at most that long before the
shared layer gives up on it (and its circuit breaker stops asking for a while). Redis
errors become :class:`~tokenrack.errors.CacheError` naming the server, never its password.
"""

from __future__ import annotations

import contextlib
import re
import secrets as _random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

from tokenrack.cache.envelope import MAX_RECORD_BYTES
from tokenrack.errors import CacheError
from tokenrack.secret.value import Secret

if TYPE_CHECKING:
    import redis

    from tokenrack.cache.redis_topology import Topology

__all__ = ["RedisCache", "redact_url", "split_password"]

_OWNER = rb"[0-9a-f]{32}"  # re caches it; compiled at the first lock, not at import
# The shared layer's second lock of a key (tokenrack.core.shared): kept in the key's slot.
_TAKEOVER = ":takeover"
# Milliseconds a lock may outlive the lease it was set with (clocks, rounding).
_LEASE_SLACK_MS = 1000

# KEYS[1] the lock; ARGV[1] our owner value. Deletes only our own lock.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def redact_url(url: str) -> str:
    """``url`` without its user name and password, for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    path = parts.path if parts.path not in ("", "/") else ""
    if "+" in parts.scheme:  # sentinels or cluster nodes: a list of host:port
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{path}"


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without the password in its user info, and that password (decoded), if any."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def _build_client(
    topology: Topology, connection: dict[str, Any], *, sentinel_password: str | None
) -> Any:
    """The redis-py client for ``topology``, with ``connection``'s keyword arguments.

    ``connection`` holds the per-connection options (timeouts, credentials, TLS files,
    no retries). Sentinels get the same timeouts and TLS, but their own password
    (``sentinel_password``) and no user name.

    Behind a sentinel or in a cluster, a connection refused or dropped is what a failover
    looks like to a client that has not seen it yet: such a command is tried once more at
    once (the sentinel client asks the sentinels for the primary again, the cluster client
    its nodes for the slots' owners), so that each process does not pay for the failover
    with an outage of its own. Timeouts are never retried (the command may have run).

    Raises:
        ValueError, TypeError: redis-py refused the options.
        redis.RedisError: Never for sentinel and server; a cluster connects at first use.
    """
    import redis
    import redis.cluster
    import redis.sentinel
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if topology.kind == "server":
        return redis.Redis.from_url(topology.url, **connection)
    once = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
    if topology.kind == "sentinel":
        sentinel_kwargs = {
            k: v for k, v in connection.items() if k.startswith(("socket_", "ssl")) or k == "retry"
        }
        if topology.tls:
            sentinel_kwargs["ssl"] = True
        if sentinel_password is not None:
            sentinel_kwargs["password"] = sentinel_password
        manager = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(topology.nodes),
            sentinel_kwargs=sentinel_kwargs,
            **{k: v for k, v in connection.items() if k != "retry"},
        )
        extra: dict[str, Any] = {"db": topology.db, "retry": once}
        if topology.tls:
            extra["ssl"] = True
        return manager.master_for(topology.service_name, **extra)  # type: ignore[no-untyped-call]
    options = {k: v for k, v in connection.items() if k not in ("retry", "retry_on_timeout")}
    if topology.tls:
        options["ssl"] = True
    nodes = [
        redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in topology.nodes
    ]
    return redis.cluster.RedisCluster(
        startup_nodes=nodes,
        retry=once,
        require_full_coverage=False,
        **options,
    )


class _RedisLock:
    """A held Redis lock: our random owner value on the lock key."""

    __slots__ = ("_cache", "_name", "_owner")

    def __init__(self, cache: RedisCache, name: str, owner: str) -> None:
        self._cache = cache
        self._name = name
        self._owner = owner

    def release(self) -> None:
        """Compare-and-delete: remove the lock only if it is still ours.

        Raises:
            CacheError: Redis did not answer (the lease then ends the lock).
        """
        self._cache._call(lambda client: client.eval(_RELEASE, 1, self._name, self._owner))


class RedisCache:
    """Token records in Redis, shared by every process that can reach it.

    Args:
        options: The profile's ``cache`` options: ``url``, ``key_prefix``, ``timeout``,
            ``username``, ``ca_bundle``, ``client_cert``, ``client_key``, ``plaintext``
            (declared here so that a profile must set ``encryption_key`` or say it).
        secrets: Resolved secret options (``password``).

    Raises:
        CacheError: The ``redis`` package is not installed.
    """

    name: ClassVar[str] = "redis"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^(redis|rediss|unix|redis\\+sentinel|rediss\\+sentinel"
                "|redis\\+cluster|rediss\\+cluster)://",
                "description": "redis://host:port/db, rediss:// for TLS, unix:///path, "
                "redis+sentinel://host:port,host:port/service_name/db, or "
                "redis+cluster://host:port,host:port (rediss+… for TLS)",
            },
            "cluster": {
                "type": "boolean",
                "description": "true: the redis:// or rediss:// url is a Redis Cluster node",
            },
            "key_prefix": {"type": "string"},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "username": {"type": "string", "minLength": 1},
            "password": {},
            "sentinel_password": {},
            "ca_bundle": {
                "type": "string",
                "minLength": 1,
                "description": "rediss://: the CA bundle (PEM) to verify the server with; "
                "a relative path is the config file's directory's",
            },
            "client_cert": {
                "type": "string",
                "minLength": 1,
                "description": "rediss://: the client certificate (PEM) for mutual TLS; "
                "a relative path is the config file's directory's",
            },
            "client_key": {
                "type": "string",
                "minLength": 1,
                "description": "rediss://: the client certificate's key (PEM); a relative "
                "path is the config file's directory's",
            },
            "plaintext": {
                "type": "boolean",
                "description": "true: store tokens unencrypted (no encryption_key); "
                "anyone who can write the cache can then plant tokens",
            },
        },
    }
    secret_options: ClassVar[frozenset[str]] = frozenset({"password", "sentinel_password"})
    # Read by `tokenrack providers` to show the backend unusable without the package.
    requires_extra: ClassVar[str | None] = "tokenrack[redis]"

    DEFAULT_PREFIX: ClassVar[str] = "tokenrack:"
    DEFAULT_TIMEOUT: ClassVar[float] = 1.0

    def __init__(self, options: Mapping[str, Any], *, secrets: Mapping[str, Secret]) -> None:
        try:
            import redis
        except ImportError:
            raise CacheError(
                "the redis cache needs the redis package: pip install 'tokenrack[redis]'",
                backend=self.name,
            ) from None
        url, inline_password = split_password(str(options["url"]))
        self.url = redact_url(url)
        self.prefix = str(options.get("key_prefix", self.DEFAULT_PREFIX))
        self.timeout = float(options.get("timeout", self.DEFAULT_TIMEOUT))
        # RedisClusterException is no RedisError (SlotNotCoveredError, a cluster not made).
        self._errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            redis.exceptions.RedisClusterException,
            OSError,
        )
        from tokenrack.cache.redis_topology import parse_topology

        try:
            self.topology = parse_topology(url, cluster=options.get("cluster") is True)
        except ValueError as error:
            raise CacheError(
                f"redis cache {self.url}: bad url ({error})", backend=self.name
            ) from None
        # A cluster routes by hash slot: each token's keys carry a hash tag ({cache key}),
        # so its record and both its locks are on one node and fail over together.
        self.hash_tags = self.topology.kind == "cluster"
        kwargs: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            # The circuit breaker decides when to try again; a client retry would only
            # multiply the time a caller can be held up.
            "retry_on_timeout": False,
            "retry": None,
            "health_check_interval": 0,
        }
        if options.get("username"):
            kwargs["username"] = str(options["username"])
        elif self.topology.username and self.topology.kind != "server":
            kwargs["username"] = self.topology.username
        password = secrets.get("password")
        if inline_password is not None:
            kwargs["password"] = inline_password  # as redis-py does: the URL's wins
        elif password is not None:
            kwargs["password"] = password.reveal()
        if self.topology.tls:
            kwargs["ssl_cert_reqs"] = "required"
            kwargs["ssl_check_hostname"] = True
            if options.get("ca_bundle"):
                kwargs["ssl_ca_certs"] = str(options["ca_bundle"])
            if options.get("client_cert"):
                kwargs["ssl_certfile"] = str(options["client_cert"])
            if options.get("client_key"):
                kwargs["ssl_keyfile"] = str(options["client_key"])
        sentinel_password = secrets.get("sentinel_password")
        # Locks whose SET timed out: (lock key, owner value, monotonic end of its lease).
        self._orphans: list[tuple[str, str, float]] = []
        self._orphans_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._client: redis.Redis | None = None

        def build() -> Any:
            return _build_client(
                self.topology,
                kwargs,
                sentinel_password=None if sentinel_password is None else sentinel_password.reveal(),
            )

        self._build = build
        if self.topology.kind != "cluster":
            # A cluster client asks the nodes for their slots as it is made: at first use.
            try:
                self._client = build()
            except (ValueError, TypeError) as error:
                raise CacheError(
                    f"redis cache {self.url}: bad url or options ({error})",
                    backend=self.name,
                ) from None

    def __repr__(self) -> str:
        return f"RedisCache({self.describe()!r})"

    def describe(self) -> str:
        """The server (without credentials) and the key prefix."""
        # getattr: also asked of a cache whose constructor failed (a traceback's locals).
        url, prefix = getattr(self, "url", "?"), getattr(self, "prefix", "?")
        return f"{url} (prefix {prefix!r})"

    def _connected(self) -> Any:
        """The client, made now if it is a cluster's that could not be made before."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._build()
                except (ValueError, TypeError) as error:
                    raise CacheError(
                        f"redis cache {self.url}: bad url or options ({error})",
                        backend=self.name,
                    ) from None
            return self._client

    def _call(self, command: Any) -> Any:
        try:
            return command(self._connected())
        except self._errors as error:
            # redis-py's messages name host and port at most; never the password.
            failure = f"redis at {self.url}: {type(error).__name__}: {error}"
            if self.topology.kind == "sentinel" and self._client is not None:
                # After a failover every idle connection still points at the old primary:
                # drop them all now, so that the next command asks the sentinels once,
                # rather than each stale connection failing (and reopening the breaker).
                with contextlib.suppress(Exception):
                    self._client.connection_pool.disconnect(inuse_connections=False)
        # Raised outside the handler, so that redis-py's error is not kept as its context:
        # that error's frames hold the command's arguments (a record: the token, when
        # the cache is plaintext).
        raise CacheError(failure, backend=self.name)

    def _name(self, kind: str, key: str) -> str:
        if not self.hash_tags:
            return f"{self.prefix}{kind}:{key}"
        # The hash tag is the token's cache key, without the takeover suffix, so that
        # the record, its lock and its takeover lock share one slot.
        base = key.removesuffix(_TAKEOVER)
        return f"{self.prefix}{kind}:{{{base}}}{key[len(base) :]}"

    def _token_key(self, key: str) -> str:
        return self._name("token", key)

    def _lock_key(self, key: str) -> str:
        return self._name("lock", key)

    # -- TokenCache ----------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The record, read no further than one byte past the record size cap.

        ``GETRANGE`` (an absent key reads as empty, which is no record either): a value
        longer than the cap comes back cut, one byte over it, and is refused unparsed.

        Raises:
            CacheError: Redis failed, timed out, or answered with something not bytes.
        """
        self._release_orphans()
        value = self._call(
            lambda client: client.getrange(self._token_key(key), 0, MAX_RECORD_BYTES)
        )
        if value is not None and not isinstance(value, bytes):
            raise CacheError(
                f"redis at {self.url} answered GETRANGE with a {type(value).__name__}",
                backend=self.name,
            )
        return value or None

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """``SET`` the record with ``PX`` = the token's remaining lifetime.

        Raises:
            CacheError: Redis failed or timed out.
        """
        milliseconds = max(1, int(ttl * 1000))
        self._call(lambda client: client.set(self._token_key(key), value, px=milliseconds))

    def delete(self, key: str) -> bool:
        """``DEL`` the record.

        Raises:
            CacheError: Redis failed or timed out.
        """
        return bool(self._call(lambda client: client.delete(self._token_key(key))))

    def try_lock(self, key: str, *, lease: float) -> _RedisLock | None:
        """``SET lock owner NX PX lease``; None when another tokenrack process holds it.

        A lock holding anything but an owner value (32 hex digits) was not taken by
        tokenrack: it is treated as absent, and the lock returned releases nothing.

        Raises:
            CacheError: Redis failed or timed out.
        """
        self._release_orphans()
        name = self._lock_key(key)
        owner = _random.token_hex(16)
        milliseconds = max(1, int(lease * 1000))
        ends = time.monotonic() + lease
        try:
            taken = self._call(lambda client: client.set(name, owner, nx=True, px=milliseconds))
        except CacheError:
            # The SET may have run on the server after we gave up: release it by owner later.
            with self._orphans_lock:
                self._orphans.append((name, owner, ends))
            raise
        if taken:
            return _RedisLock(self, name, owner)
        holder, left = self._call(
            lambda client: (
                client.pipeline(transaction=False).getrange(name, 0, 64).pttl(name).execute()
            )
        )
        if isinstance(holder, bytes) and holder and not re.fullmatch(_OWNER, holder):
            return _RedisLock(self, name, owner)  # compare-and-delete: never theirs
        if isinstance(left, int) and (left == -1 or left > milliseconds + _LEASE_SLACK_MS):
            # tokenrack sets every lock with this lease: one that never expires, or outlives
            # the lease, was set by someone else (a squatter), and is treated as absent.
            return _RedisLock(self, name, owner)
        return None

    def _release_orphans(self) -> None:
        """Compare-and-delete the locks whose SET timed out, until their lease has passed."""
        if not self._orphans:
            return
        with self._orphans_lock:
            now = time.monotonic()
            orphans = [orphan for orphan in self._orphans if orphan[2] > now]
            self._orphans = []
        kept = []
        for name, owner, ends in orphans:
            try:
                released = self._call(
                    lambda client, name=name, owner=owner: client.eval(_RELEASE, 1, name, owner)
                )
            except CacheError:
                released = 0
            if not released:
                kept.append((name, owner, ends))  # not there (yet), or Redis did not answer
        with self._orphans_lock:
            self._orphans.extend(kept)

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every record under this prefix (``SCAN``, then ``GETRANGE`` each, capped).

        Raises:
            CacheError: Redis failed or timed out.
        """
        names = self._call(
            lambda client: list(client.scan_iter(match=self._token_key("*"), count=500))
        )
        for name in sorted(names):
            value = self._call(lambda client, name=name: client.getrange(name, 0, MAX_RECORD_BYTES))
            if isinstance(value, bytes) and value:
                yield name.decode() if isinstance(name, bytes) else str(name), value

    def close(self) -> None:
        """Close the connection pool."""
        with contextlib.suppress(*self._errors):
            if self._client is not None:
                self._client.close()
