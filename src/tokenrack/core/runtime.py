"""A profile made runnable: its provider, auth methods, secrets, endpoint and cache key."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from tokenrack.auth.material import MaterialFiles
from tokenrack.auth.methods import ClientAuthMethod, ClientCredentials
from tokenrack.auth.selection import AUTO, NoCommonMethodError, ordered_candidates, plan
from tokenrack.cache.key import cache_key
from tokenrack.config.interpolate import InterpolationError, interpolate
from tokenrack.core.stats import ProfileStats
from tokenrack.core.store import CachedToken, RefreshWindows
from tokenrack.core.telemetry import fetch_record
from tokenrack.errors import (
    ConfigError,
    ConfigProblem,
    InvalidClientError,
    PluginError,
    SecretError,
    TokenError,
    TokenrackError,
    TokenRequestError,
    UnauthorizedClientError,
)
from tokenrack.oauth.discovery import (
    DEFAULT_METADATA_TTL,
    MetadataCache,
    ServerMetadata,
    decode_metadata,
    discovery_steps,
    encode_metadata,
)
from tokenrack.oauth.flow import FetchResult, FetchSettings, drive, fetch_steps
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.provider import Provider
from tokenrack.oauth.retry import DEFAULT_DEADLINE, RetryPolicy
from tokenrack.oauth.transport import ClientCertificate, Transport, TransportOptions
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.clock import Clock
from tokenrack.util.extras import extra_installed
from tokenrack.util.log import get_logger

if TYPE_CHECKING:
    from tokenrack.config.assemble import ProfileConfig
    from tokenrack.core.catalog import PluginCatalog

__all__ = ["AuthPins", "Endpoint", "ProfileRuntime", "retry_policy", "transport_options"]

logger = get_logger("tokenrack.fetch")


def transport_options(options: Mapping[str, Any]) -> TransportOptions:
    """Timeouts, TLS and proxies from a profile's options."""
    timeout = options.get("timeout", {})
    if isinstance(timeout, (int, float)):
        connect = read = float(timeout)
    else:
        connect = float(timeout.get("connect", 5))
        read = float(timeout.get("read", 10))
    verify: bool | str = True
    if options.get("verify") is False:
        verify = False
    elif options.get("ca_bundle"):
        verify = os.path.expanduser(str(options["ca_bundle"]))
    proxies = options.get("proxies")
    return TransportOptions(
        connect_timeout=connect,
        read_timeout=read,
        verify=verify,
        proxies=dict(proxies) if proxies else None,
    )


def retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    """The retry policy from a profile's ``retries``, bounded by its ``deadline``."""
    retries = options.get("retries", {})
    return RetryPolicy(
        attempts=int(retries.get("attempts", 4)),
        backoff=float(retries.get("backoff", 0.5)),
        max_backoff=float(retries.get("max_backoff", 8)),
        deadline=float(options.get("deadline", DEFAULT_DEADLINE)),
    )


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


class AuthPins:
    """What ``auth_method: auto`` learned by trying, per (token URL, client id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, str], str] = {}

    def get(self, token_url: str, client_id: str) -> str | None:
        """The method that worked for this endpoint and client, if one was learned."""
        with self._lock:
            return self._pins.get((token_url, client_id))

    def pin(self, token_url: str, client_id: str, method: str) -> None:
        """Remember that ``method`` works for this endpoint and client."""
        with self._lock:
            self._pins[(token_url, client_id)] = method


class ProfileRuntime:
    """Everything needed to fetch one profile's token, built at its first use.

    Args:
        config: The validated profile.
        source: The config file, for messages.
        catalog: Installed plugins (the provider, auth methods and secret sources).
        transport: Sends requests.
        clock: Time and sleep.
        rng: Randomness for backoff.
        jitter: This process's refresh jitter draw, in [0, 1).
        metadata: The registry's metadata cache (for ``issuer`` profiles).
        pins: The registry's learned auth methods (for ``auth_method: auto``).

    Raises:
        PluginError: The profile's provider cannot be loaded.
    """

    def __init__(
        self,
        config: ProfileConfig,
        *,
        source: str,
        catalog: PluginCatalog,
        transport: Transport,
        clock: Clock,
        rng: random.Random,
        jitter: float,
        metadata: MetadataCache,
        pins: AuthPins,
    ) -> None:
        if config.unusable is not None:
            raise config.unusable
        self.name = config.name
        self.config = config
        self.source = source
        self._catalog = catalog
        self._transport = transport
        self._clock = clock
        self._rng = rng
        self._metadata = metadata
        self._pins = pins
        options = config.options
        self._provider_class = catalog.provider(config.provider)
        self.provider: Provider = self._provider_class(options)
        self.issuer: str | None = options.get("issuer")
        self.discovers = bool(self.issuer) and not options.get("token_url")
        if self.discovers:
            # The token URL is not known until the metadata is read; the issuer names the
            # server just as well for the cache key, and is known now.
            parts = dict(
                self._provider_class({**options, "token_url": self.issuer}).cache_key_parts()
            )
            parts["issuer"] = parts.pop("token_url")
        else:
            parts = dict(self.provider.cache_key_parts())
        self.cache_key_parts = parts
        self.cache_key = cache_key(parts)
        self.transport_options = transport_options(options)
        self.retry_policy = retry_policy(options)
        self.windows = RefreshWindows(
            refresh_before=options.get("refresh_before"),
            must_refresh_before=options.get("must_refresh_before"),
            jitter=jitter,
        )
        self._secrets: dict[str, Secret] | None = None
        self._secrets_lock = threading.Lock()
        self._methods: dict[str, ClientAuthMethod] = {}
        self._providers: dict[str, Provider] = {}
        self._files = MaterialFiles()
        self.stats = ProfileStats()
        # The profile's shared cache, when it has one: metadata is shared through it too.
        self.shared_metadata: MetadataStore | None = None

    def __repr__(self) -> str:
        return (
            f"ProfileRuntime(name={self.name!r}, provider={self.config.provider!r}, "
            f"auth_method={self.config.auth_method!r})"
        )

    def close(self) -> None:
        """Delete any key material written for the TLS library."""
        self._files.close()

    # -- secrets -------------------------------------------------------------------------

    def secrets(self) -> dict[str, Secret]:
        """Resolve the profile's secrets, once, at the first fetch.

        Raises:
            SecretError: A secret cannot be read; names the file, profile and key.
        """
        with self._secrets_lock:
            if self._secrets is None:
                self._secrets = {
                    key: self.resolve_secret(key, value)
                    for key, value in self.config.options.items()
                    if key in self.config.secret_keys
                }
            return dict(self._secrets)

    def forget_secrets(self) -> None:
        """Read the secrets again at the next fetch (after the server rejected them)."""
        with self._secrets_lock:
            self._secrets = None

    def resolve_secret(self, key: str, value: Any) -> Secret:
        """Resolve one secret value of this profile (a nested one, e.g. ``cache.password``).

        Args:
            key: Where it sits in the profile, for messages (``cache.encryption_key``).
            value: A ``Secret`` or ``SecretRef`` from the loaded profile.

        Raises:
            SecretError: It cannot be read; names the file, profile and key.
        """
        path = f"profiles.{self.name}.{key}"
        if isinstance(value, Secret):
            return value
        if not isinstance(value, SecretRef):  # pragma: no cover - the loader guarantees it
            raise SecretError("not a secret value", file=self.source, profile=self.name, path=path)
        try:
            if value.source == "template":
                return Secret(interpolate(str(value.argument), os.environ))
            return Secret(self._catalog.secret_source(value.source).resolve(value.argument))
        except InterpolationError as error:
            raise SecretError(str(error), file=self.source, profile=self.name, path=path) from None
        except SecretError as error:
            raise SecretError(
                error.problems[0].message, file=self.source, profile=self.name, path=path
            ) from None
        except PluginError as error:
            raise SecretError(
                f"secret source {value.source!r} is unavailable: {error}",
                file=self.source,
                profile=self.name,
                path=path,
            ) from None

    # -- what to send where --------------------------------------------------------------

    def method(self, name: str) -> ClientAuthMethod:
        """The auth method ``name``, loaded once.

        Raises:
            PluginError: It cannot be loaded.
            ConfigError: It needs an extra that is not installed.
        """
        method = self._methods.get(name)
        if method is None:
            cls = self._catalog.auth_method(name)
            if cls.requires_extra and not extra_installed(cls.requires_extra):
                raise ConfigError(
                    f"{name} needs the {cls.requires_extra} extra: "
                    f"pip install '{cls.requires_extra}'",
                    file=self.source,
                    profile=self.name,
                    path=f"profiles.{self.name}.auth_method",
                )
            method = self._methods.setdefault(name, cls())
        return method

    def _settings(
        self, authenticate: Any, secrets: Mapping[str, Secret], started_at: float | None = None
    ) -> FetchSettings:
        return FetchSettings(
            authenticate=authenticate,
            policy=self.retry_policy,
            clock=self._clock,
            rng=self._rng,
            allow_insecure_http=self.config.options.get("allow_insecure_http") is True,
            profile=self.name,
            source=self.source,
            known_secrets=tuple(secret.reveal() for secret in secrets.values()),
            started_at=started_at,
        )

    def endpoint(self) -> Endpoint:
        """The token endpoint, from the profile or the issuer's metadata (cached).

        Raises:
            TokenError: The metadata cannot be fetched or is refused.
        """
        options = self.config.options
        if not self.issuer:
            return Endpoint(self.provider.token_url())
        issuer = self.issuer
        settings = self._settings(lambda request: request, {})

        ttl = float(options.get("metadata_ttl", DEFAULT_METADATA_TTL))
        shared = self.shared_metadata
        shared_key = "metadata:" + cache_key({"issuer": issuer})
        allow_http = options.get("allow_insecure_http") is True

        def fetch() -> ServerMetadata:
            if shared is not None:
                stored = shared.get(shared_key)
                known = (
                    decode_metadata(
                        stored,
                        issuer=issuer,
                        allow_insecure_http=allow_http,
                        now=self._clock.time(),
                    )
                    if stored is not None
                    else None
                )
                if known is not None:
                    return known
            logger.info("reading authorization server metadata for %s", issuer)
            fetched = drive(
                discovery_steps(issuer, settings),
                transport=self._transport,
                options=self.transport_options,
                clock=self._clock,
            )
            if shared is not None:
                record = encode_metadata(fetched, expires_at=self._clock.time() + ttl)
                shared.set(shared_key, record, ttl=ttl)
            return fetched

        metadata = self._metadata.get(issuer, fetch, ttl=ttl)
        fixed = options.get("token_url")
        return Endpoint(
            token_url=fixed or metadata.token_endpoint,
            mtls_token_url=None if fixed else metadata.mtls_token_endpoint,
            advertised=metadata.auth_methods,
        )

    def _has_material(self, name: str) -> bool:
        try:
            cls = self._catalog.auth_method(name)
        except PluginError:
            return False
        return all(key in self.config.options for key in cls.required_options)

    def plan(self, endpoint: Endpoint) -> list[str]:
        """The auth methods to try, in order (more than one only for ``auto`` fallback).

        Raises:
            ConfigError: ``auto`` finds nothing both sides can use.
        """
        if self.config.auth_method != AUTO:
            return [self.config.auth_method]
        client_id = str(self.config.options.get("client_id", ""))
        pinned = self._pins.get(endpoint.token_url, client_id)
        if pinned is not None:
            return [pinned]
        supported = self.provider.supported_auth_methods
        candidates = ordered_candidates(supported, self._has_material)
        try:
            return plan(candidates, endpoint.advertised, public_allowed="none" in supported)
        except NoCommonMethodError as error:
            raise ConfigError(
                f"auth_method auto: {error}",
                file=self.source,
                profile=self.name,
                path=f"profiles.{self.name}.auth_method",
            ) from None

    def provider_for(self, url: str) -> Provider:
        """The provider that builds requests for ``url`` (the discovered one, for ``issuer``)."""
        if not self.discovers:
            return self.provider
        provider = self._providers.get(url)
        if provider is None:
            provider = self._provider_class({**self.config.options, "token_url": url})
            self._providers[url] = provider
        return provider

    def first_request(self, url: str, secrets: Mapping[str, Secret]) -> TokenRequest:
        """The first request the provider's flow makes for ``url``, before client auth.

        What ``tokenrack explain`` shows: for most providers their ``build_token_request``;
        for one that signs its own grant, the request with the signed grant in it.

        Raises:
            ConfigError: The provider cannot build it (e.g. its key material is unusable);
                reported under the profile.
        """
        provider = self.provider_for(url)
        mine = {k: v for k, v in secrets.items() if k in provider.secret_options}
        try:
            return next(provider.token_flow(mine))
        except ConfigError as error:
            if error.profile is None:
                raise self._located(error) from None
            raise

    def _client_certificate(self, secrets: Mapping[str, Secret]) -> ClientCertificate:
        options = self.config.options
        passphrase = secrets.get("client_key_passphrase")
        return ClientCertificate(
            cert_path=self._files.path_for(
                "client_cert", options["client_cert"], secrets["client_cert"]
            ),
            key_path=self._files.path_for(
                "client_key", options["client_key"], secrets["client_key"]
            ),
            key_password=passphrase,
        )

    # -- fetching ------------------------------------------------------------------------

    def _fetch_with(
        self,
        method: ClientAuthMethod,
        endpoint: Endpoint,
        secrets: Mapping[str, Secret],
        started_at: float | None = None,
    ) -> FetchResult:
        client = ClientCredentials(
            profile=self.name,
            client_id=str(self.config.options.get("client_id", "")),
            client_secret=secrets.get("client_secret"),
            options=self.config.options,
            secrets={k: v for k, v in secrets.items() if k in method.secret_options},
        )

        def authenticate(request: TokenRequest) -> TokenRequest:
            return method.authenticate(request, client)

        options = self.transport_options
        url = endpoint.token_url
        if method.requires_client_certificate:
            options = replace(options, client_cert=self._client_certificate(secrets))
            url = endpoint.mtls_token_url or url
        provider = self.provider_for(url)
        provider_secrets = {k: v for k, v in secrets.items() if k in provider.secret_options}
        return drive(
            fetch_steps(
                provider.token_flow(provider_secrets),
                self._settings(authenticate, secrets, started_at),
            ),
            transport=self._transport,
            options=options,
            clock=self._clock,
        )

    def _fetch(self, endpoint: Endpoint, secrets: Mapping[str, Secret]) -> FetchResult:
        """Try the planned methods: a second only after the first was refused as a client."""
        methods = self.plan(endpoint)
        first: tuple[str, TokenRequestError] | None = None
        started = self._clock.monotonic()  # one deadline for every method tried
        for index, name in enumerate(methods):
            try:
                result = self._fetch_with(self.method(name), endpoint, secrets, started)
            except TokenRequestError as error:
                refused = error.status == 401 or error.error == "invalid_client"
                if refused and index + 1 < len(methods):
                    logger.info(
                        "auth_method auto: %s refused by %s (%s); trying %s once",
                        name,
                        endpoint.token_url,
                        error.error,
                        methods[index + 1],
                    )
                    first = (name, error)
                    continue
                if first is not None:
                    raise error.after(first[1], method=first[0]) from first[1]
                raise
            if len(methods) > 1:
                client_id = str(self.config.options.get("client_id", ""))
                self._pins.pin(endpoint.token_url, client_id, name)
                logger.info(
                    "auth_method auto: using %s for %s (client %s) from now on",
                    name,
                    endpoint.token_url,
                    client_id,
                )
            return result
        raise AssertionError("unreachable: the last method returns or raises")  # pragma: no cover

    def _located(self, error: ConfigError) -> ConfigError:
        """Place a provider's fetch-time ConfigError in the file and profile.

        A provider raises it with a path relative to the profile (``path="key"``), as in
        ``check_options``: e.g. key material it reads from one of its ``secret_options``
        turns out unusable. Reported under ``profiles.<name>``, as load-time problems are.
        """
        base = f"profiles.{self.name}"

        def under_profile(path: str) -> str:
            if path == base or path.startswith(f"{base}."):
                return path
            return f"{base}.{path}" if path else base

        problems = [ConfigProblem(under_profile(p.path), p.message) for p in error.problems]
        located = SecretError if isinstance(error, SecretError) else ConfigError
        return located(problems=problems, file=self.source, profile=self.name)

    def refresh(self, reason: str) -> CachedToken:
        """Fetch a new token from the endpoint and place it in its refresh windows.

        Raises:
            TokenError: The token could not be obtained (the profile is named in it).
            ConfigError: A secret is missing, a method needs an extra, or a URL is refused.
            PluginError: The provider failed in an unexpected way.
        """
        result = self.fetch(reason)
        return self.windows.entry(
            result.token, obtained_at=result.obtained_at, lifetime=result.lifetime
        )

    def fetch(self, reason: str) -> FetchResult:
        """Fetch a new token from the endpoint (no caching), counted and traced.

        Raises:
            TokenError: The token could not be obtained (the profile is named in it).
            ConfigError: A secret is missing or the token URL is refused.
            PluginError: The provider failed in an unexpected way.
        """
        self.stats.fetched(reason)
        with fetch_record(self.name, self.config.provider, reason) as record:
            try:
                return self._fetch_logged(reason)
            except Exception as error:
                self.stats.failed(error)
                record.failed(error)
                raise

    def _fetch_logged(self, reason: str) -> FetchResult:
        clock = self._clock
        started = clock.monotonic()
        where = self.cache_key_parts.get("token_url") or self.issuer or "?"
        logger.info("fetching token for profile %s from %s (reason: %s)", self.name, where, reason)
        try:
            secrets = self.secrets()
            result = self._fetch(self.endpoint(), secrets)
        except TokenError as error:
            error.profile = self.name
            if isinstance(error, (InvalidClientError, UnauthorizedClientError)):
                # Read the secret again before the next try (it may have been rotated),
                # and let callers hear this refusal again, rather than the vendor hearing
                # a bad secret again, until the cooldown is over.
                self.forget_secrets()
                error.cooldown = float(self.config.options.get("refusal_cooldown", 30))
            logger.warning(
                "token fetch for profile %s failed after %.0f ms: %s",
                self.name,
                (clock.monotonic() - started) * 1000,
                error,
            )
            raise
        except ConfigError as error:
            if error.profile is None:
                raise self._located(error) from None
            raise
        except TokenrackError:
            raise
        except Exception as error:
            raise PluginError(
                f"profile {self.name!r}: provider {self.config.provider!r} failed: "
                f"{type(error).__name__}: {error}",
                group="tokenrack.providers",
                name=self.config.provider,
            ) from error
        logger.info(
            "got token for profile %s: HTTP %d in %.0f ms, %d attempt(s), expires in %.0fs",
            self.name,
            result.status,
            (clock.monotonic() - started) * 1000,
            result.attempts,
            result.lifetime,
        )
        return result
