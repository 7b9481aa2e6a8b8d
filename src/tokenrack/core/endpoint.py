"""Where a profile's token request goes: its ``token_url``, or its issuer's metadata.

A profile with ``issuer`` reads the token endpoint and the auth methods the server accepts
from its metadata (RFC 8414, OIDC discovery), kept in the registry's
:class:`~tokenrack.oauth.discovery.MetadataCache`. A token endpoint on another host than
the issuer is refused unless the profile lists its host in ``token_endpoint_hosts``.

Metadata is shared with other processes only through a shared cache with an
``encryption_key``, sealed (:class:`SealedMetadata`: AES-256-GCM, bound to the issuer and
the format), and checked again when read, as if fetched. Whoever can write the cache could
otherwise name the token endpoint, and so receive the client secret; without a key each
process discovers for itself (one request a day, by default) and keeps it in memory.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tokenrack.cache.envelope import MAX_RECORD_BYTES, RecordError
from tokenrack.cache.key import cache_key
from tokenrack.config.options import ProfileOptions
from tokenrack.errors import CacheError, SecretError
from tokenrack.oauth.discovery import (
    MetadataCache,
    ServerMetadata,
    check_endpoint_host,
    decode_metadata,
    discovery_steps,
    encode_metadata,
)
from tokenrack.oauth.flow import FetchSettings, drive
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.transport import Transport
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

if TYPE_CHECKING:
    from tokenrack.cache.record import RecordCipher

__all__ = ["Endpoint", "EndpointResolver", "MetadataBackend", "MetadataStore", "SealedMetadata"]

logger = get_logger("tokenrack.fetch")

_SEALED_FORMAT = 2


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to send the token request, and what the server said it accepts.

    Attributes:
        token_url: The token endpoint.
        mtls_token_url: The endpoint for mutual-TLS clients (RFC 8705 §5), if different.
        advertised: The auth methods the server's metadata lists; None without metadata.
    """

    token_url: str
    mtls_token_url: str | None = None
    advertised: tuple[str, ...] | None = None


class MetadataStore(Protocol):
    """Where server metadata is shared between processes, authenticated."""

    def load(self, issuer: str) -> bytes | None:
        """The metadata record another process stored for ``issuer``, authenticated; or None."""
        ...

    def store(self, issuer: str, record: bytes, *, ttl: float) -> None:
        """Share ``issuer``'s metadata record for ``ttl`` seconds (best effort)."""
        ...


class MetadataBackend(Protocol):
    """The shared cache under a :class:`SealedMetadata` (a guarded backend)."""

    def get(self, key: str) -> bytes | None:
        """The stored record, or None."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store a record for ``ttl`` seconds; whether it was stored."""
        ...


class SealedMetadata:
    """Metadata records sealed with the fleet's ``encryption_key`` in a shared cache.

    A record is ``{"format": 2, "issuer": …, "sealed": …}``, the metadata sealed with
    ``"metadata:" + issuer`` and the format as associated data; anything else under the
    key (unsealed, another issuer's, too large, not decrypting) is ignored, logged, and
    the caller fetches the metadata itself.

    Args:
        cache: The guarded shared cache.
        cipher: Makes the record cipher (the profile's ``encryption_key``); may raise
            CacheError or SecretError, and the metadata is then not shared.
    """

    def __init__(self, cache: MetadataBackend, cipher: Callable[[], RecordCipher | None]) -> None:
        self._cache = cache
        self._cipher = cipher

    def __repr__(self) -> str:
        return "SealedMetadata()"

    def _usable_cipher(self) -> RecordCipher | None:
        try:
            return self._cipher()
        except (CacheError, SecretError) as error:
            logger.debug("server metadata is not shared: %s", type(error).__name__)
            return None

    def load(self, issuer: str) -> bytes | None:
        """The metadata another process sealed for ``issuer``, opened; None otherwise."""
        data = self._cache.get(_shared_key(issuer))
        if data is None:
            return None
        cipher = self._usable_cipher()
        if cipher is None:
            return None
        try:
            if len(data) > MAX_RECORD_BYTES:
                raise RecordError(f"larger than {MAX_RECORD_BYTES} bytes; not decoded")
            record = json.loads(data)
            if (
                not isinstance(record, dict)
                or record.get("format") != _SEALED_FORMAT
                or record.get("issuer") != issuer
                or "sealed" not in record
            ):
                raise RecordError("not a sealed metadata record for this issuer")
            return cipher.open(record["sealed"], aad=_metadata_aad(issuer))
        except (ValueError, UnicodeDecodeError) as error:  # RecordError is a ValueError
            why = str(error) if isinstance(error, RecordError) else "not JSON"
            logger.warning(
                "shared server metadata for %s is unusable (%s); discovering it here",
                issuer,
                why,
            )
            return None

    def store(self, issuer: str, record: bytes, *, ttl: float) -> None:
        """Seal ``record`` and share it for ``ttl`` seconds (nothing without a cipher)."""
        cipher = self._usable_cipher()
        if cipher is None:
            return
        sealed = {
            "format": _SEALED_FORMAT,
            "issuer": issuer,
            "sealed": cipher.seal(record, aad=_metadata_aad(issuer)),
        }
        self._cache.set(_shared_key(issuer), json.dumps(sealed).encode(), ttl=ttl)


def _unauthenticated(request: TokenRequest) -> TokenRequest:
    return request  # metadata requests carry no client authentication


class EndpointResolver:
    """A profile's token endpoint, static or discovered (and then cached).

    Args:
        profile: The profile's name, for messages.
        source: The config file, for messages.
        options: The profile's typed options (``issuer``, ``token_url``, timeouts, …).
        static_url: The provider's token URL, for a profile without ``issuer``.
        metadata: The registry's metadata cache, shared by its profiles.
        shared: Where processes share metadata (sealed); None when it is not shared (an
            in-memory profile, or a shared cache without an ``encryption_key``).
        transport: Sends the metadata requests.
        clock: Time.
        rng: Randomness for backoff.
    """

    def __init__(
        self,
        *,
        profile: str,
        source: str,
        options: ProfileOptions,
        static_url: Callable[[], str],
        metadata: MetadataCache,
        shared: MetadataStore | None,
        transport: Transport,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._profile = profile
        self._source = source
        self._options = options
        self._static_url = static_url
        self._metadata = metadata
        self._shared = shared
        self._transport = transport
        self._clock = clock
        self._rng = rng

    def resolve(self) -> Endpoint:
        """The token endpoint, from the profile or the issuer's metadata (cached).

        Raises:
            TokenError: The metadata cannot be fetched or is refused.
        """
        issuer = self._options.issuer
        if not issuer:
            return Endpoint(self._static_url())
        metadata = self._metadata.get(
            issuer, lambda: self._read(issuer), ttl=self._options.metadata_ttl
        )
        fixed = self._options.token_url
        if not fixed:
            check_endpoint_host(
                metadata, issuer=issuer, allowed_hosts=self._options.token_endpoint_hosts
            )
        return Endpoint(
            token_url=fixed or metadata.token_endpoint,
            mtls_token_url=None if fixed else metadata.mtls_token_endpoint,
            advertised=metadata.auth_methods,
        )

    def _read(self, issuer: str) -> ServerMetadata:
        """Another process's copy from the shared cache, or the server's (then shared)."""
        shared = self._from_shared(issuer)
        if shared is not None:
            return shared
        fetched = self._fetch(issuer)
        if self._shared is not None:
            ttl = self._options.metadata_ttl
            record = encode_metadata(fetched, expires_at=self._clock.time() + ttl)
            self._shared.store(issuer, record, ttl=ttl)
        return fetched

    def _from_shared(self, issuer: str) -> ServerMetadata | None:
        if self._shared is None:
            return None
        stored = self._shared.load(issuer)
        if stored is None:
            return None
        return decode_metadata(
            stored,
            issuer=issuer,
            allow_insecure_http=self._options.allow_insecure_http,
            now=self._clock.time(),
        )

    def _fetch(self, issuer: str) -> ServerMetadata:
        logger.info("reading authorization server metadata for %s", issuer)
        settings = FetchSettings(
            authenticate=_unauthenticated,
            policy=self._options.retry,
            clock=self._clock,
            rng=self._rng,
            allow_insecure_http=self._options.allow_insecure_http,
            profile=self._profile,
            source=self._source,
        )
        return drive(
            discovery_steps(issuer, settings),
            transport=self._transport,
            options=self._options.transport,
            clock=self._clock,
        )


def _shared_key(issuer: str) -> str:
    return "metadata:" + cache_key({"issuer": issuer})


def _metadata_aad(issuer: str) -> str:
    return f"metadata:{issuer}\nformat {_SEALED_FORMAT}"
