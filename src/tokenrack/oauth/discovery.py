"""Authorization server metadata (RFC 8414, and OpenID Connect discovery).

With ``issuer:`` instead of ``token_url``, the token endpoint and the methods the server
accepts are read from ``/.well-known/oauth-authorization-server`` (RFC 8414 §3, inserted
before the issuer's path), then, if that is not found, ``/.well-known/openid-configuration``
(appended, as OIDC Discovery 1.0 §4 says). The ``issuer`` in the document must equal the
configured one exactly (RFC 8414 §3.3), or the metadata is refused: a mismatch is how
mix-up attacks start. A token endpoint (or mTLS alias) on another host than the issuer's is
refused too, unless the profile lists its host in ``token_endpoint_hosts``: RFC 8414 allows
it, but a document that sends the client's credentials to another host is the first thing
an attacker who can change it would write. Fetched with the core's retries and timeouts;
cached per issuer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tokenrack.errors import TokenResponseError
from tokenrack.oauth.flow import Attempts, FetchSettings, Outcome, Step, exchange
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.response import decode_body
from tokenrack.oauth.url_policy import insecure_url_problem

__all__ = [
    "MetadataCache",
    "check_endpoint_host",
    "ServerMetadata",
    "decode_metadata",
    "discovery_steps",
    "encode_metadata",
    "metadata_urls",
]

DEFAULT_METADATA_TTL = 86_400.0


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """What tokenrack uses from an authorization server's metadata.

    Attributes:
        issuer: The issuer, as the document states it (equal to the configured one).
        token_endpoint: The token endpoint.
        auth_methods: ``token_endpoint_auth_methods_supported`` (RFC 8414 says an absent
            list means ``client_secret_basic`` only).
        mtls_token_endpoint: ``mtls_endpoint_aliases.token_endpoint`` (RFC 8705 §5), if any.
        source: The URL the document came from.
    """

    issuer: str
    token_endpoint: str
    auth_methods: tuple[str, ...]
    mtls_token_endpoint: str | None
    source: str


def metadata_urls(issuer: str) -> list[str]:
    """The two well-known URLs for ``issuer``, in the order they are tried."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(parts._replace(path=f"/.well-known/oauth-authorization-server{path}"))
    oidc = urlunsplit(parts._replace(path=f"{path}/.well-known/openid-configuration"))
    return [rfc8414, oidc]


def _url(document: Mapping[str, Any], key: str, source: str, allow_insecure_http: bool) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise TokenResponseError(f"metadata at {source} has no {key}")
    problem = insecure_url_problem(value, allow_insecure_http=allow_insecure_http)
    if problem:
        raise TokenResponseError(f"metadata at {source}: {key}: {problem}")
    return value


def parse_metadata(
    document: Any, *, issuer: str, source: str, allow_insecure_http: bool
) -> ServerMetadata:
    """Check and extract what tokenrack uses.

    Raises:
        TokenResponseError: Not a JSON object, an issuer that differs, or a missing or
            insecure token endpoint.
    """
    if not isinstance(document, Mapping):
        raise TokenResponseError(f"metadata at {source} is not a JSON object")
    stated = document.get("issuer")
    if stated != issuer:
        raise TokenResponseError(
            f"metadata at {source} names issuer {str(stated)[:200]!r}, not the configured "
            f"{issuer!r}; refusing it (RFC 8414 §3.3)"
        )
    methods = document.get("token_endpoint_auth_methods_supported")
    if methods is None:
        advertised: tuple[str, ...] = ("client_secret_basic",)
    elif isinstance(methods, list) and all(isinstance(m, str) for m in methods):
        advertised = tuple(methods)
    else:
        raise TokenResponseError(
            f"metadata at {source}: token_endpoint_auth_methods_supported is not a list"
        )
    aliases = document.get("mtls_endpoint_aliases")
    mtls = None
    if isinstance(aliases, Mapping) and aliases.get("token_endpoint"):
        mtls = _url(aliases, "token_endpoint", source, allow_insecure_http)
    return ServerMetadata(
        issuer=issuer,
        token_endpoint=_url(document, "token_endpoint", source, allow_insecure_http),
        auth_methods=advertised,
        mtls_token_endpoint=mtls,
        source=source,
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def check_endpoint_host(
    metadata: ServerMetadata, *, issuer: str, allowed_hosts: frozenset[str]
) -> None:
    """Refuse a token endpoint (or mTLS alias) on another host than ``issuer``'s.

    Another port on the issuer's host is accepted (an mTLS alias often has one); the
    scheme is the URL policy's business (https, or loopback http when allowed).

    Args:
        metadata: The metadata, fetched or shared.
        issuer: The configured issuer.
        allowed_hosts: Hosts (lower case) the profile allows besides the issuer's
            (``token_endpoint_hosts``).

    Raises:
        TokenResponseError: An endpoint on another host, not allowed; the
            message names the issuer and the endpoint's host, and the option to set.
    """
    own = _host(issuer)
    for name, url in (
        ("token_endpoint", metadata.token_endpoint),
        ("mtls_endpoint_aliases.token_endpoint", metadata.mtls_token_endpoint),
    ):
        if url is None:
            continue
        host = _host(url)
        if host == own or host in allowed_hosts:
            continue
        raise TokenResponseError(
            f"the metadata of issuer {issuer} names a {name} on another host "
            f"({host!r}); refusing to send the client's credentials there. If that "
            f"host is right, list it in the profile's token_endpoint_hosts"
        )


def discovery_steps(
    issuer: str, settings: FetchSettings
) -> Generator[Step, Outcome, ServerMetadata]:
    """Fetch and check the metadata, as steps for :func:`tokenrack.oauth.flow.drive`.

    Raises:
        TokenResponseError: No metadata at either URL, or metadata that fails the checks.
        TokenEndpointUnavailableError: The server could not be reached.
    """
    attempts = Attempts()
    urls = metadata_urls(issuer)
    statuses = []
    for url in urls:
        request = TokenRequest(url=url, method="GET", authenticate=False)
        response, _ = yield from exchange(request, settings, attempts)
        if response.status == 200:
            return parse_metadata(
                decode_body(response),
                issuer=issuer,
                source=url,
                allow_insecure_http=settings.allow_insecure_http,
            )
        statuses.append(f"{url}: HTTP {response.status}")
    raise TokenResponseError(
        f"no authorization server metadata for {issuer} ({'; '.join(statuses)})"
    )


def encode_metadata(metadata: ServerMetadata, *, expires_at: float) -> bytes:
    """Metadata as a shared cache stores it (the fields tokenrack uses, and an expiry)."""
    document: dict[str, Any] = {
        "format": 1,
        "issuer": metadata.issuer,
        "token_endpoint": metadata.token_endpoint,
        "token_endpoint_auth_methods_supported": list(metadata.auth_methods),
        "source": metadata.source,
        "expires_at": expires_at,
    }
    if metadata.mtls_token_endpoint:
        document["mtls_endpoint_aliases"] = {"token_endpoint": metadata.mtls_token_endpoint}
    return json.dumps(document, separators=(",", ":")).encode()


def decode_metadata(
    data: bytes, *, issuer: str, allow_insecure_http: bool, now: float
) -> ServerMetadata | None:
    """Metadata another process stored, checked as if just fetched; None when unusable.

    A record for another issuer, expired, or failing the same checks as a fetched document
    (exact issuer, https token endpoint) is ignored: the caller fetches instead.
    """
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != 1:
            return None
        if float(document["expires_at"]) <= now:
            return None
        return parse_metadata(
            document,
            issuer=issuer,
            source=str(document.get("source", "a shared cache")),
            allow_insecure_http=allow_insecure_http,
        )
    except (ValueError, TypeError, KeyError, TokenResponseError):
        return None


class MetadataCache:
    """Metadata per issuer, kept for a TTL; one fetch at a time per issuer."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._monotonic = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[ServerMetadata, float]] = {}
        self._issuer_locks: dict[str, threading.Lock] = {}

    def get(
        self, issuer: str, fetch: Callable[[], ServerMetadata], *, ttl: float
    ) -> ServerMetadata:
        """The cached metadata for ``issuer``, fetched with ``fetch`` when absent or stale."""
        with self._lock:
            lock = self._issuer_locks.setdefault(issuer, threading.Lock())
        with lock:
            cached = self._entries.get(issuer)
            if cached is not None and self._monotonic() < cached[1]:
                return cached[0]
            metadata = fetch()
            self._entries[issuer] = (metadata, self._monotonic() + ttl)
            return metadata

    def forget(self, issuer: str) -> None:
        """Drop ``issuer``'s metadata so the next use fetches it again."""
        with self._lock:
            self._entries.pop(issuer, None)
