"""The :class:`Registry`: named profiles, their cached tokens, and one transport."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tokenrack.core.auto_auth import AuthPins
from tokenrack.core.refusal import with_cooldown
from tokenrack.core.runtime import ProfileRuntime
from tokenrack.core.shared import CacheSettings, GuardedCache, SharedRefresh, cache_settings
from tokenrack.core.stats import ProfileStats
from tokenrack.core.store import CachedToken, Refresh, Slot, TokenStore
from tokenrack.errors import CacheError, PluginError, SecretError
from tokenrack.oauth.discovery import MetadataCache
from tokenrack.secret.resolve import SecretResolver
from tokenrack.token import Token
from tokenrack.util.clock import Clock, SystemClock

if TYPE_CHECKING:
    from types import TracebackType

    from tokenrack.cache.backend import TokenCache
    from tokenrack.cache.record import RecordCipher
    from tokenrack.config.assemble import Config, ProfileConfig
    from tokenrack.core.catalog import PluginCatalog
    from tokenrack.oauth.message import EncodedRequest, HttpResponse
    from tokenrack.oauth.transport import Transport, TransportOptions
    from tokenrack.secret.sources import SecretSource

__all__ = ["Registry"]


class Registry:
    """Profiles from one config, and their tokens: cached, refreshed early, single-flight.

    Thread-safe: any number of threads may call :meth:`get_token` at once; each cache key is
    refreshed by one of them while the others wait or keep the cached token (see
    docs/refresh.md). Most code uses the default registry through
    :func:`tokenrack.get_token`; build one explicitly with :meth:`from_file` or
    :meth:`from_dict`.

    Args:
        config: A loaded configuration.
        catalog: Installed plugins (a new catalog when omitted).
        transport: Sends token requests (requests, when omitted; created at first fetch).
        clock: Time source (the system clock when omitted).
        rng: Randomness for jitter and backoff.
        default_cache: The ``cache`` of profiles that name none, in ``defaults`` or
            themselves (``memory`` when omitted; the CLI passes ``file``).
    """

    def __init__(
        self,
        config: Config,
        *,
        catalog: PluginCatalog | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        default_cache: str | Mapping[str, Any] = "memory",
    ) -> None:
        if catalog is None:
            from tokenrack.core.catalog import PluginCatalog

            catalog = PluginCatalog()
        self._config = config
        self._default_cache = default_cache
        self._catalog = catalog
        self._transport = transport
        self._owns_transport = transport is None
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._jitter = self._rng.random()
        self._store = TokenStore(self._clock)
        self._monotonic = self._clock.monotonic
        self._metadata = MetadataCache(self._clock.monotonic)
        self._pins = AuthPins()
        self._runtimes: dict[str, tuple[ProfileRuntime, Slot, Refresh, ProfileStats]] = {}
        self._shared: dict[str, SharedRefresh] = {}
        self._caches: dict[str, GuardedCache] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Registry:
        """Load a registry from a YAML file (discovered as documented when ``path`` is None).

        Keyword arguments are the constructor's, plus ``environ``: the mapping ``${VAR}``
        references are read from, at load and for inline secrets at the first fetch
        (``os.environ`` when omitted), and ``plugins``: plugins without an entry point,
        by group and name (see docs/plugins.md).

        Raises:
            ConfigError: The file is missing, unreadable or invalid.
            PluginError: A name in ``plugins`` is already an installed entry point.
            PluginLoadError: An object in ``plugins`` does not keep its group's contract.
        """
        from tokenrack.config.assemble import load_config
        from tokenrack.config.discover import discover_config_path
        from tokenrack.config.document import read_config_file
        from tokenrack.config.exposure import warn_if_exposed
        from tokenrack.core.catalog import PluginCatalog

        catalog = kwargs.pop("catalog", None) or PluginCatalog()
        catalog.register_all(kwargs.pop("plugins", None) or {})
        environ = kwargs.pop("environ", None)
        if environ is None:
            environ = os.environ
        source, data = read_config_file(path if path is not None else discover_config_path())
        config = load_config(data, source=source, plugins=catalog, environ=environ)
        warn_if_exposed(source, config)
        return cls(config, catalog=catalog, **kwargs)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "<dict>",
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Registry:
        """Build a registry from a config already in memory (same format as the YAML).

        Keyword arguments are the constructor's, plus ``source`` (the name used in
        messages), ``environ``: the mapping ``${VAR}`` references are read from, at load
        and for inline secrets at the first fetch (``os.environ`` when omitted), and
        ``plugins`` as in :meth:`from_file`.

        Raises:
            ConfigError: The config is invalid.
            PluginError: A name in ``plugins`` is already an installed entry point.
            PluginLoadError: An object in ``plugins`` does not keep its group's contract.
        """
        from tokenrack.config.assemble import load_config
        from tokenrack.core.catalog import PluginCatalog

        catalog = kwargs.pop("catalog", None) or PluginCatalog()
        catalog.register_all(kwargs.pop("plugins", None) or {})
        environ = os.environ if environ is None else environ
        config = load_config(data, source=source, plugins=catalog, environ=environ)
        return cls(config, catalog=catalog, **kwargs)

    def __repr__(self) -> str:
        return f"Registry(source={self._config.source!r}, profiles={len(self._config.profiles)})"

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def source(self) -> str:
        """The file the config came from, or ``<dict>``."""
        return self._config.source

    def profiles(self) -> list[str]:
        """The profile names, in file order."""
        return list(self._config.profiles)

    def get_token(self, profile: str, *, force_refresh: bool = False) -> Token:
        """A valid token for ``profile``.

        Args:
            profile: The profile's name.
            force_refresh: Fetch a new token now, even if the cached one is fresh.

        Raises:
            ProfileNotFoundError: No such profile.
            ConfigError: The profile's secrets or token URL are unusable.
            PluginError: Its provider or auth method cannot be loaded.
            TokenError: No valid token could be obtained or served.
        """
        runtime, slot, refresh, stats = self._runtimes.get(profile) or self._runtime(profile)
        # The hot path: a fresh token is one attribute read and one clock read away. Every
        # other state (and the same check again, under the store's rules) is the store's;
        # a shared cache is consulted only from there, through ``refresh``.
        entry = slot.entry
        if entry is not None and not force_refresh and self._monotonic() < entry.refresh_at:
            stats.hits += 1
            return entry.token
        return self._store.get(
            runtime.cache_key, refresh, force=force_refresh, label=profile, on_hit=stats.hit
        )

    async def aget_token(self, profile: str, *, force_refresh: bool = False) -> Token:
        """:meth:`get_token` for asyncio: the same cache, windows and single-flight.

        A cache hit never leaves the event loop's thread; a fetch runs in a worker thread
        while the loop keeps running, and coroutines and threads asking for the same token
        at the same time share one request.

        Raises:
            The same errors as :meth:`get_token`.
        """
        found = self._runtimes.get(profile)
        if found is None:
            import asyncio

            # Building a profile loads plugins and may read files: not on the loop.
            found = await asyncio.to_thread(self._runtime, profile)
        runtime, slot, refresh, stats = found
        entry = slot.entry
        if entry is not None and not force_refresh and self._monotonic() < entry.refresh_at:
            stats.hits += 1
            return entry.token
        return await self._store.aget(
            runtime.cache_key, refresh, force=force_refresh, label=profile, on_hit=stats.hit
        )

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per profile: what the cache and the endpoint did.

        Cache hits, fetches by reason, failures by kind, the last error, and the cached
        token's seconds left (None when nothing is cached). Profiles never used in this
        process show zeros. No value holds a secret or a token.
        """
        report: dict[str, dict[str, Any]] = {}
        for name in self.profiles():
            found = self._runtimes.get(name)
            if found is None:
                report[name] = {**ProfileStats().snapshot(), "expires_in": None}
                continue
            _, slot, _, stats = found
            entry = slot.entry
            left = entry.expires_at - self._monotonic() if entry is not None else None
            report[name] = {**stats.snapshot(), "expires_in": left}
        return report

    def invalidate(
        self, profile: str, *, token: Token | None = None, reason: str = "invalidated"
    ) -> bool:
        """Drop ``profile``'s cached token so the next call fetches a new one.

        Args:
            profile: The profile's name.
            token: Drop only if this is still the cached token (what ``BearerAuth`` does
                on a 401, so many rejected callers cause one refresh, not one each).
            reason: Logged as the reason of the next fetch.

        Returns:
            Whether a cached token was dropped.

        Raises:
            ProfileNotFoundError: No such profile.
        """
        runtime = (self._runtimes.get(profile) or self._runtime(profile))[0]
        return self._store.invalidate(runtime.cache_key, token=token, reason=reason)

    @property
    def default_cache(self) -> str | Mapping[str, Any]:
        """The ``cache`` of profiles that name none (``memory`` unless the caller chose)."""
        return self._default_cache

    @property
    def config(self) -> Config:
        """The loaded configuration (profiles as assembled and validated)."""
        return self._config

    def cache_state(self, profile: str) -> str:
        """``fresh``, ``early``, ``mandatory``, ``expired``, or ``none`` when nothing is cached."""
        entry = self.cached(profile)
        return "none" if entry is None else entry.state(self._monotonic())

    def cached(self, profile: str) -> CachedToken | None:
        """The cached entry for ``profile`` and its windows, without fetching (diagnostics)."""
        slot = (self._runtimes.get(profile) or self._runtime(profile))[1]
        return slot.entry

    def shared_cache(self, profile: str) -> SharedRefresh | None:
        """The shared cache layer behind ``profile``'s in-process cache (None: ``memory``).

        For administration; see :mod:`tokenrack.cache_admin`.

        Raises:
            ProfileNotFoundError: No such profile.
            PluginError: Its provider or auth method cannot be loaded.
        """
        self._runtimes.get(profile) or self._runtime(profile)
        return self._shared.get(profile)

    def runtime(self, profile: str) -> ProfileRuntime:
        """The assembled profile (provider, auth method, cache key) for diagnostics."""
        return (self._runtimes.get(profile) or self._runtime(profile))[0]

    def close(self) -> None:
        """Release connections (if this registry made the transport) and delete key files.

        Key files are material written to disk for mutual TLS (see docs/auth/tls_client_auth.md).
        """
        with self._lock:
            transport = self._transport if self._owns_transport else None
            runtimes = [found[0] for found in self._runtimes.values()]
            caches = list(self._caches.values())
        for runtime in runtimes:
            runtime.close()
        if transport is not None:
            transport.close()
        for cache in caches:
            cache.close()

    def _runtime(self, profile: str) -> tuple[ProfileRuntime, Slot, Refresh, ProfileStats]:
        config = self._config.profile(profile)
        with self._lock:
            found = self._runtimes.get(profile)
            if found is None:
                if config.unusable is not None:
                    raise config.unusable
                secrets = self._secret_resolver(config)
                cache = self._shared_cache(config, secrets)
                runtime = ProfileRuntime(
                    config,
                    source=self._config.source,
                    catalog=self._catalog,
                    secrets=secrets,
                    transport=self._transport_instance(),
                    clock=self._clock,
                    rng=self._rng,
                    jitter=self._jitter,
                    metadata=self._metadata,
                    shared_metadata=cache[1] if cache is not None else None,
                    pins=self._pins,
                )
                slot = self._store.slot(runtime.cache_key)
                refresh: Refresh = runtime.refresh
                if cache is not None:
                    shared = self._shared_refresh(runtime, slot, secrets, *cache)
                    self._shared[profile] = shared
                    refresh = shared
                refresh = with_cooldown(refresh, runtime.options.refusal_cooldown)
                found = (runtime, slot, refresh, runtime.stats)
                self._runtimes[profile] = found
            return found

    def _secret_resolver(self, config: ProfileConfig) -> SecretResolver:
        """The profile's secrets, read through the catalog's sources and ``template``."""
        from tokenrack.config.template import TEMPLATE, TemplateSecretSource

        template = TemplateSecretSource(self._config.environ)

        def source(name: str) -> SecretSource:
            return template if name == TEMPLATE else self._catalog.secret_source(name)

        return SecretResolver(
            profile=config.name,
            source=self._config.source,
            values=config.parsed.secrets,
            sources=source,
        )

    def _shared_cache(
        self, config: ProfileConfig, secrets: SecretResolver
    ) -> tuple[CacheSettings, GuardedCache] | None:
        """The shared backend a profile's ``cache`` names (None: ``memory``)."""
        option = config.parsed.cache
        if option is None:
            option = self._default_cache
        backend = option if isinstance(option, str) else (option or {}).get("backend")
        if backend in (None, "memory"):
            return None
        secret_options = self._catalog.cache(str(backend)).secret_options
        settings = cache_settings(option, secret_options=frozenset(secret_options))
        identity = settings.identity()
        cache = self._caches.get(identity)
        if cache is None:
            cache = GuardedCache(
                self._backend_builder(secrets, settings), name=settings.backend, clock=self._clock
            )
            self._caches[identity] = cache
        return settings, cache

    def _shared_refresh(
        self,
        runtime: ProfileRuntime,
        slot: Slot,
        secrets: SecretResolver,
        settings: CacheSettings,
        cache: GuardedCache,
    ) -> SharedRefresh:
        """The shared layer for a profile whose ``cache`` names a shared backend."""
        transport = runtime.transport_options
        lease = settings.lock_lease or (transport.connect_timeout + transport.read_timeout)

        def cipher() -> RecordCipher | None:
            if settings.encryption_key is None:
                return None
            from tokenrack.cache.record import RecordCipher

            secret = secrets.resolve("cache.encryption_key", settings.encryption_key)
            return RecordCipher(secret)

        return SharedRefresh(
            key=runtime.cache_key,
            profile=runtime.name,
            cache=cache,
            fetch=runtime.fetch,
            windows=runtime.windows,
            slot=slot,
            clock=self._clock,
            lease=lease,
            cipher=cipher,
        )

    def _backend_builder(
        self, resolver: SecretResolver, settings: CacheSettings
    ) -> Callable[[], TokenCache]:
        def build() -> TokenCache:
            try:
                backend = self._catalog.cache(settings.backend)
                secrets = {
                    key: resolver.resolve(f"cache.{key}", value)
                    for key, value in settings.secrets.items()
                }
            except (PluginError, SecretError) as error:
                raise CacheError(str(error), backend=settings.backend) from None
            return backend(settings.options, secrets=secrets)

        return build

    def _transport_instance(self) -> Transport:
        if self._transport is None:
            self._transport = _DeferredTransport()
        return self._transport


class _DeferredTransport:
    """The requests transport, imported and built at the first send.

    A process whose tokens all come from a shared cache (a CLI call on a warm file cache)
    then never imports requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inner: Transport | None = None

    def send(
        self, request: EncodedRequest, *, options: TransportOptions, sent_at: float
    ) -> HttpResponse:
        """Send through the requests transport, building it first if needed.

        Raises:
            TransportError: As the requests transport does.
        """
        with self._lock:
            if self._inner is None:
                from tokenrack.http.requests_transport import RequestsTransport

                self._inner = RequestsTransport()
            inner = self._inner
        return inner.send(request, options=options, sent_at=sent_at)

    def close(self) -> None:
        """Close the requests transport, if one was built."""
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()
