"""A profile made runnable: the fetch of its token, counted, logged and traced.

The parts are built elsewhere and handed in: typed options (:mod:`tokenrack.config.options`),
secrets (:class:`~tokenrack.secret.resolve.SecretResolver`), the endpoint
(:class:`~tokenrack.core.endpoint.EndpointResolver`) and the auth-method plan
(:class:`~tokenrack.core.auto_auth.AuthPlanner`). What stays here is orchestration.

The fetch chain, outermost first: :meth:`ProfileRuntime.refresh` (a token placed in its
refresh windows, for the token store) -> :meth:`~ProfileRuntime.fetch` (statistics and
telemetry) -> ``_fetch_logged`` (logging, and errors placed under the profile) ->
``_try_methods`` (each planned auth method in turn) -> ``_send`` (one provider flow).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from tokenrack.auth.client_assertion import ROTATING_OPTIONS, is_stale_assertion
from tokenrack.auth.jwt_bearer import key_refused, with_grant
from tokenrack.auth.material import MaterialFiles, OptionMaterialError
from tokenrack.auth.methods import ClientAuthMethod, ClientCredentials
from tokenrack.auth.selection import MATERIAL_KEYS
from tokenrack.cache.key import cache_key
from tokenrack.core.auto_auth import AuthPins, AuthPlanner, SharedPins
from tokenrack.core.credential import (
    CREDENTIAL_PART,
    Fingerprint,
    credential_material,
    process_fingerprint,
)
from tokenrack.core.endpoint import Endpoint, EndpointResolver, MetadataStore
from tokenrack.core.exchange import ProfileTokens, token_exchange_for
from tokenrack.core.refusal import is_refusal
from tokenrack.core.stats import ProfileStats
from tokenrack.core.store import CachedToken, RefreshWindows
from tokenrack.core.telemetry import fetch_record
from tokenrack.errors import (
    ConfigError,
    ConfigProblem,
    PluginError,
    SecretError,
    TokenError,
    TokenrackError,
    TokenRequestError,
)
from tokenrack.oauth.discovery import MetadataCache
from tokenrack.oauth.flow import FetchResult, FetchSettings, drive, fetch_steps
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.provider import Provider
from tokenrack.oauth.retry import RetryPolicy
from tokenrack.oauth.throttle import EndpointThrottle
from tokenrack.oauth.transport import ClientCertificate, Transport, TransportOptions
from tokenrack.secret.resolve import SecretResolver
from tokenrack.secret.sources import command_time_limit
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.clock import Clock
from tokenrack.util.extras import extra_installed
from tokenrack.util.log import RAISED, get_logger

if TYPE_CHECKING:
    from tokenrack.auth.dpop import DPoP
    from tokenrack.config.assemble import ProfileConfig
    from tokenrack.core.catalog import PluginCatalog

__all__ = ["AuthPins", "Endpoint", "MetadataStore", "ProfileRuntime"]

logger = get_logger("tokenrack.fetch")


class ProfileRuntime:
    """Everything needed to fetch one profile's token, built at its first use.

    Args:
        config: The validated profile.
        source: The config file, for messages.
        catalog: Installed plugins (the provider and auth methods).
        secrets: The profile's secrets.
        transport: Sends requests.
        clock: Time and sleep.
        rng: Randomness for backoff.
        jitter: This process's refresh jitter draw, in [0, 1).
        metadata: The registry's metadata cache (for ``issuer`` profiles).
        shared_metadata: The profile's shared cache, through which discovered metadata is
            shared with other processes; None for an in-memory profile.
        pins: The registry's learned auth methods (for ``auth_method: auto``).
        shared_pins: Where ``auto`` shares them through the profile's shared cache; None
            for an in-memory profile.
        fingerprint: Digests the profile's credential into its cache key (see
            :mod:`tokenrack.core.credential`; the per-process key when omitted).
        stats: The profile's counters, kept across rebuilds (new ones when omitted).
        throttle: The registry's memory of long ``Retry-After`` waits by token URL, shared
            by every profile (a private one when omitted).
        tokens: Other profiles' tokens, for ``grant: token_exchange`` with ``{profile:}``.

    Raises:
        PluginError: The profile's provider cannot be loaded.
        SecretError: A secret cannot be read: the cache key depends on the credential, so
            secrets are resolved here, when the profile is built.
    """

    def __init__(
        self,
        config: ProfileConfig,
        *,
        source: str,
        catalog: PluginCatalog,
        secrets: SecretResolver,
        transport: Transport,
        clock: Clock,
        rng: random.Random,
        jitter: float,
        metadata: MetadataCache,
        shared_metadata: MetadataStore | None,
        pins: AuthPins,
        shared_pins: SharedPins | None = None,
        fingerprint: Fingerprint | None = None,
        stats: ProfileStats | None = None,
        throttle: EndpointThrottle | None = None,
        tokens: ProfileTokens | None = None,
    ) -> None:
        if config.unusable is not None:
            raise config.unusable
        self.name = config.name
        self.config = config
        self.source = source
        self.options = options = config.parsed
        self._catalog = catalog
        self._transport = transport
        self._clock = clock
        self._rng = rng
        self._secrets = secrets
        self._provider_class = with_grant(
            catalog.provider(config.provider), config.options.get("grant")
        )
        self.provider: Provider = self._provider_class(config.options)
        learned = self.provider.options_from_secrets(
            {k: v for k, v in self._bound_secrets().items() if k in self.provider.secret_options}
        )
        if learned:
            # E.g. the token URL a key file names: shown, logged and keyed as it is used.
            self.provider = self._provider_class({**config.options, **learned})
        # RFC 8693: built before the cache key, which carries its sources' identities.
        self.exchange = token_exchange_for(
            profile=self.name,
            source=source,
            options=config.options,
            resolve=secrets.resolve,
            tokens=tokens,
        )
        self.issuer = options.issuer
        self.discovers = bool(options.issuer) and not options.token_url
        self.cache_key_parts = self._cache_key_parts()
        self.dpop: DPoP | None = None
        if options.dpop:
            # Loaded for a DPoP profile only: the others never import signing (issue 15).
            from tokenrack.core.dpop_setup import DPOP_PART, profile_dpop

            self.dpop = profile_dpop(config, source, self._bound_secrets())
            if self.dpop is not None:
                # A DPoP-bound token is of use only to a holder of its key (RFC 9449 §6).
                self.cache_key_parts[DPOP_PART] = self.dpop.key.thumbprint
        self.cache_key_parts[CREDENTIAL_PART] = self._fingerprint(
            fingerprint or process_fingerprint()
        )
        self.cache_key = cache_key(self.cache_key_parts)
        self.windows = RefreshWindows(
            refresh_before=options.refresh_before,
            must_refresh_before=options.must_refresh_before,
            jitter=jitter,
        )
        self._endpoints = EndpointResolver(
            profile=self.name,
            source=source,
            options=options,
            static_url=self.provider.token_url,
            metadata=metadata,
            shared=shared_metadata,
            transport=transport,
            clock=clock,
            rng=rng,
        )
        self._planner = AuthPlanner(
            profile=self.name,
            source=source,
            configured=config.auth_method,
            supported=self.provider.supported_auth_methods,
            has_material=self._has_material,
            client_id=options.client_id,
            pins=pins,
            shared=shared_pins,
        )
        self._methods: dict[str, ClientAuthMethod] = {}
        self._providers: dict[str, Provider] = {}
        self._files = MaterialFiles()
        self._rotating = any(key in options.secrets for key in ROTATING_OPTIONS)
        self.stats = stats if stats is not None else ProfileStats()
        self._throttle = throttle if throttle is not None else EndpointThrottle(clock.monotonic)
        if options.transport.verify is False:  # once per profile, not per request
            logger.warning(
                "profile %s: verify: false, TLS certificates are not checked; anyone on the "
                "path can read its client credentials and hand it tokens",
                self.name,
            )

    def __repr__(self) -> str:
        return (
            f"ProfileRuntime(name={self.name!r}, provider={self.config.provider!r}, "
            f"auth_method={self.config.auth_method!r})"
        )

    def close(self) -> None:
        """Delete any key material written for the TLS library."""
        self._files.close()

    @property
    def transport_options(self) -> TransportOptions:
        """Timeouts, TLS verification and proxies for this profile's requests."""
        return self.options.transport

    @property
    def retry_policy(self) -> RetryPolicy:
        """Attempts, backoff and deadline for this profile's fetches."""
        return self.options.retry

    def _cache_key_parts(self) -> dict[str, str]:
        parts = self._provider_key_parts()
        if self.exchange is not None:
            parts.update(self.exchange.cache_key_parts())
        return parts

    def _provider_key_parts(self) -> dict[str, str]:
        if not self.discovers:
            return dict(self.provider.cache_key_parts())
        # The token URL is not known until the metadata is read; the issuer names the server
        # just as well for the cache key, and is known now.
        issuer = str(self.options.issuer)
        parts = dict(self._provider_for_url(issuer).cache_key_parts())
        parts["issuer"] = parts.pop("token_url")
        return parts

    def _fingerprint(self, fingerprint: Fingerprint) -> str:
        """The credential's fingerprint: keyed, salted with the client and its server."""
        parts = self.cache_key_parts
        server = parts.get("token_url") or parts.get("issuer") or ""
        context = f"{self.options.client_id or ''}\n{server}"
        return fingerprint(credential_material(self._bound_secrets()), context)

    # -- secrets -------------------------------------------------------------------------

    def secrets(self) -> dict[str, Secret]:
        """Resolve the profile's secrets, once, when the profile is built (again after a refusal).

        Raises:
            SecretError: A secret cannot be read; names the file, profile and key.
        """
        # A secret command gets no more time than the fetch it runs for.
        with command_time_limit(self.options.retry.deadline):
            return self._secrets.secrets()

    def _bound_secrets(self) -> dict[str, Secret]:
        """The secrets that do not rotate, and the source of each that does (for the key)."""
        with command_time_limit(self.options.retry.deadline):
            return self._secrets.binding()

    def forget_secrets(self) -> None:
        """Read the secrets again at the next fetch (after the server rejected them)."""
        self._secrets.forget()

    # -- what to send where --------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        """The token endpoint, from the profile or the issuer's metadata (cached).

        Raises:
            TokenError: The metadata cannot be fetched or is refused.
        """
        return self._endpoints.resolve()

    def plan(self, endpoint: Endpoint) -> list[str]:
        """The auth methods to try, in order (more than one only for ``auto`` fallback).

        Raises:
            ConfigError: ``auto`` finds nothing both sides can use.
        """
        return self._planner.plan(endpoint)

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

    def _has_material(self, name: str) -> bool:
        needed = MATERIAL_KEYS.get(name, ())
        if not all(key in self.config.options for key in needed):
            return False  # decided without importing the method
        try:
            cls = self._catalog.auth_method(name)
        except PluginError:
            return False
        return all(key in self.config.options for key in cls.required_options)

    def provider_for(self, url: str) -> Provider:
        """The provider that builds requests for ``url`` (the discovered one, for ``issuer``)."""
        if not self.discovers:
            return self.provider
        provider = self._providers.get(url)
        if provider is None:
            provider = self._providers[url] = self._provider_for_url(url)
        return provider

    def _provider_for_url(self, url: str) -> Provider:
        return self._provider_class({**self.config.options, "token_url": url})

    def first_request(self, url: str, secrets: Mapping[str, Secret]) -> TokenRequest:
        """The first request the provider's flow makes for ``url``, before client auth.

        What ``tokenrack explain`` shows: for most providers their ``build_token_request``;
        for one that signs its own grant, the request with the signed grant in it.

        Raises:
            ConfigError: The provider cannot build it (e.g. its key material is unusable);
                reported under the profile.
        """
        provider = self.provider_for(url)
        if self.exchange is not None:
            return self.exchange.first_request(provider)
        mine = {k: v for k, v in secrets.items() if k in provider.secret_options}
        try:
            return next(provider.token_flow(mine))
        except ConfigError as error:
            if error.profile is None:
                raise self._located(error) from None
            raise

    def _client_certificate(self, secrets: Mapping[str, Secret]) -> ClientCertificate:
        try:
            return self._files.client_certificate(self.options.secrets, secrets)
        except OptionMaterialError as error:
            raise ConfigError(
                str(error),
                file=self.source,
                profile=self.name,
                path=f"profiles.{self.name}.{error.option}",
            ) from None

    # -- fetching ------------------------------------------------------------------------

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

    def fetch(self, reason: str, *, started_at: float | None = None) -> FetchResult:
        """Fetch a new token from the endpoint (no caching), counted and traced.

        ``started_at``: the monotonic time the caller's deadline started, when it waited
        before fetching (for another process's refresh); None starts it now.

        Raises:
            TokenError: The token could not be obtained (the profile is named in it).
            ConfigError: A secret is missing or the token URL is refused.
            PluginError: The provider failed in an unexpected way.
        """
        self.stats.fetched(reason)
        with fetch_record(self.name, self.config.provider, reason) as record:
            try:
                return self._fetch_logged(reason, started_at)
            except Exception as error:
                self.stats.failed(error)
                record.failed(error)
                raise

    def _fetch_logged(self, reason: str, started_at: float | None = None) -> FetchResult:
        """The fetch, logged, with every error placed under the profile."""
        started = self._clock.monotonic()
        where = self.cache_key_parts.get("token_url") or self.issuer or "?"
        logger.info("fetching token for profile %s from %s (reason: %s)", self.name, where, reason)
        try:
            result = self._try_rotated(started_at)
        except TokenError as error:
            error.profile = self.name
            if is_refusal(error) or key_refused(self.provider, error):
                # Read the secret again before the next try: it may have been rotated.
                self.forget_secrets()
            logger.warning(
                "token fetch for profile %s failed after %.0f ms: %s",
                self.name,
                (self._clock.monotonic() - started) * 1000,
                error,
                extra={RAISED: True},  # the caller gets this error itself
            )
            raise
        except ConfigError as error:
            if error.profile is None or error.file is None:
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
            (self._clock.monotonic() - started) * 1000,
            result.attempts,
            result.lifetime,
        )
        return result

    def _try_rotated(self, started_at: float | None) -> FetchResult:
        """The planned methods, retried once at once when a rotating assertion was refused.

        When the server refuses a rotating client assertion as expired or invalid, the
        assertion is read again and sent. This runs inside the refresh that the refusal
        cooldown wraps: a rotation the process had not yet seen costs one request, not a
        cooldown.
        """
        try:
            return self._try_methods(self.endpoint(), self.secrets(), started_at)
        except TokenRequestError as error:
            if not self._rotating or not is_stale_assertion(error):
                raise
            logger.info(
                "profile %s: the server refused the client assertion (%s); reading it "
                "again and retrying once",
                self.name,
                error.error,
            )
        return self._try_methods(self.endpoint(), self.secrets(), started_at)

    def _try_methods(
        self,
        endpoint: Endpoint,
        secrets: Mapping[str, Secret],
        started_at: float | None = None,
    ) -> FetchResult:
        """Try the planned methods: a second only after the first was refused as a client."""
        methods = self.plan(endpoint)
        first: tuple[str, TokenRequestError] | None = None
        # One deadline for every method tried (and for a wait before the fetch).
        started = self._clock.monotonic() if started_at is None else started_at
        for index, name in enumerate(methods):
            try:
                result = self._send(self.method(name), endpoint, secrets, started)
            except TokenRequestError as error:
                if self._planner.next_after(methods, index, error, endpoint) is not None:
                    first = (name, error)
                    continue
                if first is not None:
                    raise error.after(first[1], method=first[0]) from first[1]
                raise
            self._planner.worked(methods, name, endpoint)
            return result
        raise AssertionError("unreachable: the last method returns or raises")  # pragma: no cover

    def _send(
        self,
        method: ClientAuthMethod,
        endpoint: Endpoint,
        secrets: Mapping[str, Secret],
        started_at: float,
    ) -> FetchResult:
        """One provider flow with one auth method: its requests, retries and deadline."""
        client = ClientCredentials(
            profile=self.name,
            client_id=self.options.client_id,
            client_secret=secrets.get("client_secret"),
            options=self.config.options,
            secrets={k: v for k, v in secrets.items() if k in method.secret_options},
            source=self.source,
        )

        def authenticate(request: TokenRequest) -> TokenRequest:
            return method.authenticate(request, client)

        transport = self.options.transport
        url = endpoint.token_url
        if method.requires_client_certificate:
            transport = replace(transport, client_cert=self._client_certificate(secrets))
            url = endpoint.mtls_token_url or url
        provider = self.provider_for(url)
        provider_secrets = {k: v for k, v in secrets.items() if k in provider.secret_options}
        known = tuple(secrets.values())
        if self.exchange is not None:
            exchanged = self.exchange.read()  # per fetch: the subject token rotates
            flow = self.exchange.flow(provider, exchanged)
            known += exchanged.secrets()
        else:
            flow = provider.token_flow(provider_secrets)
        settings = FetchSettings(
            authenticate=authenticate,
            policy=self.options.retry,
            clock=self._clock,
            rng=self._rng,
            allow_insecure_http=self.options.allow_insecure_http,
            profile=self.name,
            source=self.source,
            known_secrets=known,
            started_at=started_at,
            sender_constraint=self.dpop.sign_request if self.dpop else None,
            throttle=self._throttle,
        )
        if self.dpop is not None:
            flow = self.dpop.flow(flow)
        return drive(
            fetch_steps(flow, settings),
            transport=self._transport,
            options=transport,
            clock=self._clock,
        )

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

        def named(path: str, message: str) -> str:
            # A secret option read from a file (a key file): say which file was read.
            configured = self.options.secrets.get(path.removeprefix(f"{base}."))
            if not isinstance(configured, SecretRef) or configured.source != "file":
                return message
            shown = str(configured.argument)
            return message if shown in message else f"file {shown}: {message}"

        problems = [
            ConfigProblem(under_profile(p.path), named(under_profile(p.path), p.message))
            for p in error.problems
        ]
        located = SecretError if isinstance(error, SecretError) else ConfigError
        return located(problems=problems, file=self.source, profile=self.name)
