"""Who is asking: a unix-socket caller's peer credentials, a TCP caller's bearer, a browser.

Checks here are pure functions of what the connection and the headers say, so each rule is
tested on its own; the request handlers (``.native``, ``.azure``, ``.google``) call them.
"""

from __future__ import annotations

import hmac
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenrack.agent.settings import ProfileAccess
from tokenrack.secret.value import Secret

__all__ = [
    "RequestRefusedError",
    "Caller",
    "browser_refusal",
    "caller_of",
    "may_use",
    "secret_matches",
]

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid (Linux)


class RequestRefusedError(Exception):
    """A request the agent answers with an error status (never a secret in ``message``).

    Args:
        status: The HTTP status.
        error: A short machine-readable code (``forbidden``, ``not_found``, …).
        message: What a person reads.
    """

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class Caller:
    """The process at the other end of a connection.

    Attributes:
        tcp: Whether it came over TCP (then nothing else is known of it).
        uid: Its user id (unix socket, from ``SO_PEERCRED``).
        gid: Its primary group id (unix socket).
        pid: Its process id (unix socket), for the log.
        port: The local TCP port it connected to, for the ``Host`` check.
        address: The local IP address it connected to, for the ``Host`` check.
    """

    tcp: bool
    uid: int | None = None
    gid: int | None = None
    pid: int | None = None
    port: int | None = None
    address: str | None = None

    @property
    def label(self) -> str:
        """How the request log names it: ``uid=1000`` or ``tcp``."""
        return "tcp" if self.tcp else f"uid={self.uid}"


def caller_of(sock: Any) -> Caller:
    """Identify the peer of an accepted connection.

    Args:
        sock: The connection's socket (aiohttp's ``transport.get_extra_info("socket")``).

    Raises:
        RequestRefusedError: The peer cannot be identified (403).
    """
    if sock is None:
        raise RequestRefusedError(403, "forbidden", "the caller cannot be identified")
    if sock.family == socket.AF_UNIX:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        except OSError:
            raise RequestRefusedError(403, "forbidden", "the caller cannot be identified") from None
        pid, uid, gid = _PEERCRED.unpack(raw)
        return Caller(tcp=False, uid=uid, gid=gid, pid=pid)
    local = sock.getsockname()
    return Caller(tcp=True, port=int(local[1]), address=str(local[0]))


def may_use(caller: Caller, access: ProfileAccess, *, authenticated: bool) -> bool:
    """Whether ``caller`` may have the token of a profile with these rules.

    Args:
        caller: Who asks.
        access: The profile's ``agent.profiles`` entry.
        authenticated: For a TCP caller, whether it presented the right secret.
    """
    if caller.tcp:
        return access.tcp and authenticated
    return caller.uid in access.uids or caller.gid in access.gids


def secret_matches(presented: str | None, expected: Secret | None) -> bool:
    """Compare a presented secret with the expected one in constant time.

    False when either is missing, so a secret that is not configured lets nobody in.
    """
    if presented is None or expected is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.reveal().encode())


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (None when there is none)."""
    value = headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _allowed_hosts(caller: Caller) -> set[str]:
    if not caller.tcp:
        return {"", "localhost"}
    names = {"127.0.0.1", "localhost", "[::1]"}
    if caller.address:
        # The address the connection arrived on (a non-loopback or wildcard listener).
        names.add(f"[{caller.address}]" if ":" in caller.address else caller.address)
    hosts = {f"{name}:{caller.port}" for name in names}
    if caller.port == 80:
        hosts |= names
    return hosts


def browser_refusal(headers: Mapping[str, str], caller: Caller) -> RequestRefusedError | None:
    """The refusal for a request a web page could have made, or None for a local client.

    A request with an ``Origin`` header comes from a browser (no local client sends one),
    and the agent answers no CORS preflight, so no page can read an answer. A ``Host``
    that is not the address the connection arrived on (or ``localhost``) is a DNS-rebinding
    attempt: a page on a name its attacker re-points at 127.0.0.1. Over a unix socket,
    ``Host`` is ``localhost`` or empty.

    Args:
        headers: The request's headers.
        caller: Who asks (for TCP, the local address and port it connected to).
    """
    # Sec-Fetch-* says nothing: Node's fetch sends ``Sec-Fetch-Mode: cors`` too.
    if "Origin" in headers:
        return RequestRefusedError(403, "browser_refused", "requests from web pages are refused")
    host = headers.get("Host", "").strip().lower()
    if host not in _allowed_hosts(caller):
        return RequestRefusedError(
            403, "bad_host", "the Host header is not this agent's address (DNS rebinding?)"
        )
    return None
