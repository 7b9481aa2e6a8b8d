"""Which token URLs tokenrack will send credentials to."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["insecure_url_problem", "is_loopback_host", "userinfo_problem", "without_userinfo"]


def is_loopback_host(host: str) -> bool:
    """True for literal ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``).

    No other name counts, ``*.localhost`` included: a name would be resolved (through DNS,
    on many systems), and an answer from elsewhere would take plain http off the host.
    Nothing is resolved here.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def userinfo_problem(url: str) -> str | None:
    """Say why ``url`` must not be used because it carries credentials, or None.

    Credentials in a URL (``https://user:pass@host/…``) end up in log lines and error
    messages, which quote the URL; the client's credentials belong in ``client_id`` and
    ``client_secret``. The message never quotes them.
    """
    if "@" not in urlsplit(url).netloc:
        return None
    return (
        f"{without_userinfo(url)!r} must not hold a user name or password (user:pass@host); "
        "put the client's credentials in client_id and client_secret"
    )


def insecure_url_problem(url: str, *, allow_insecure_http: bool) -> str | None:
    """Say why credentials must not be sent to ``url``, or None when they may.

    ``https`` is always fine; ``http`` only to a loopback host (see
    :func:`is_loopback_host`) or when the profile says ``allow_insecure_http: true``; any
    other scheme never.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = without_userinfo(url)
    if scheme == "https":
        return None if parts.hostname else f"{shown!r} has no host"
    if scheme == "http":
        if not parts.hostname:
            return f"{shown!r} has no host"
        if allow_insecure_http or is_loopback_host(parts.hostname):
            return None
        return (
            f"refusing to send credentials over plain http to {parts.hostname}; "
            "use https, or set allow_insecure_http: true if you really mean it"
        )
    return f"{shown!r} is not an http(s) URL"
