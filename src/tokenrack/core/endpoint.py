"""Where a profile's token request goes: its ``token_url``, or its issuer's metadata.

A profile with ``issuer`` reads the token endpoint and the auth methods the server accepts
from its metadata (RFC 8414, OIDC discovery), kept in the registry's
:class:`~tokenrack.oauth.discovery.MetadataCache` and, when the profile has a shared
cache, shared with other processes through it (checked again when read, as if fetched).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tokenrack.cache.key import cache_key
from tokenrack.config.options import ProfileOptions
from tokenrack.oauth.discovery import (
    MetadataCache,
    ServerMetadata,
    decode_metadata,
    discovery_steps,
    encode_metadata,
)
from tokenrack.oauth.flow import FetchSettings, drive
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.transport import Transport
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

__all__ = ["Endpoint", "EndpointResolver", "MetadataStore"]

logger = get_logger("tokenrack.fetch")


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
    """Where server metadata is shared between processes (a guarded shared cache)."""

    def get(self, key: str) -> bytes | None:
        """The stored record, or None."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store a record for ``ttl`` seconds; whether it was stored."""
        ...


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
        shared: The profile's shared cache, through which processes share metadata; None
            for an in-memory profile.
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
            self._shared.set(_shared_key(issuer), record, ttl=ttl)
        return fetched

    def _from_shared(self, issuer: str) -> ServerMetadata | None:
        if self._shared is None:
            return None
        stored = self._shared.get(_shared_key(issuer))
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
