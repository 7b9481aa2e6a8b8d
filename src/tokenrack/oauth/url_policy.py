"""Which token URLs tokenrack will send credentials to."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["insecure_url_problem", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_problem(url: str, *, allow_insecure_http: bool) -> str | None:
    """Say why credentials must not be sent to ``url``, or None when they may.

    ``https`` is always fine; ``http`` only to a loopback host or when the profile says
    ``allow_insecure_http: true``; any other scheme never.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else f"{url!r} has no host"
    if scheme == "http":
        if not parts.hostname:
            return f"{url!r} has no host"
        if allow_insecure_http or is_loopback_host(parts.hostname):
            return None
        return (
            f"refusing to send credentials over plain http to {parts.hostname}; "
            "use https, or set allow_insecure_http: true if you really mean it"
        )
    return f"{url!r} is not an http(s) URL"
