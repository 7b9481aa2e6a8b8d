"""The :class:`Registry`: named profiles, their cached tokens, and one transport."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from tokenrack.auth.client_assertion import ROTATING_OPTIONS
from tokenrack.auth.material import PATH_OPTIONS
from tokenrack.config.options import anchor_paths
from tokenrack.core.auto_auth import AuthPins
from tokenrack.core.cache_wiring import SharedCache, SharedCaches
from tokenrack.core.credential import (
    Fingerprint,
    fleet_fingerprint,
    process_fingerprint,
    scrypt_fingerprint,
    user_fingerprint,
)
from tokenrack.core.refusal import is_refusal, with_cooldown
from tokenrack.core.runtime import ProfileRuntime
from tokenrack.core.stats import ProfileStats
from tokenrack.core.store import CachedToken, Refresh, Slot, TokenStore
from tokenrack.errors import ConfigError, PluginError, SecretError, without_frames
from tokenrack.http.deferred import DeferredTransport
from tokenrack.oauth.discovery import MetadataCache
from tokenrack.oauth.throttle import EndpointThrottle
from tokenrack.secret.resolve import SecretResolver
from tokenrack.token import Token
from tokenrack.util.clock import Clock, SystemClock
from tokenrack.util.environ import private_environ

if TYPE_CHECKING:
    from types import TracebackType

    from tokenrack.config.assemble import Config, ProfileConfig
    from tokenrack.core.catalog import PluginCatalog
    from tokenrack.core.shared import SharedRefresh
    from tokenrack.oauth.transport import Transport
    from tokenrack.secret.sources import SecretSource

__all__ = ["Registry"]


def _loaded(load: Callable[[], Config]) -> Config:
    """``load()``; a ConfigError comes without the loader's frames.

    Those frames hold the document as written and the environment, and an error tracker
    that records a traceback's locals would send them on (inline secrets included); the
    error's message and problems say what is wrong and where, without them.
    """
    try:
        return load()
    except ConfigError as error:
        failure = without_frames(error)
    raise failure


# Seconds a runtime dropped after a refusal stays open (see Registry._retire).
_RETIRED_GRACE = 300.0
# Seconds between two readings of a refused profile's secrets during its cooldown.
_REREAD_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class _Profile:
    """A profile as assembled, with what the hot path reads: built once, at first use.

    A slotted class, not a NamedTuple: reading a slot is several times cheaper than a
    NamedTuple's field descriptor, and ``get_token`` reads two on every cache hit.

    Attributes:
        runtime: Provider, auth method, cache key and the fetch itself.
        slot: The in-process cache's state for the profile's cache key.
        refresh: What the store calls to obtain a token (the shared layer, or the fetch).
        stats: The profile's counters.
        shared: The shared cache layer (None for ``memory``), for administration.
        built_at: When it was built (monotonic): its secrets were read then.
    """

    runtime: ProfileRuntime
    slot: Slot
    refresh: Refresh
    stats: ProfileStats
    shared: SharedRefresh | None
    built_at: float


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
        # A server's long Retry-After holds its endpoint for every profile that uses it.
        self._throttle = EndpointThrottle(self._clock.monotonic)
        self._pins = AuthPins()
        self._profiles: dict[str, _Profile] = {}
        self._stats: dict[str, ProfileStats] = {}
        self._retired: list[tuple[float, ProfileRuntime]] = []
        self._shared = SharedCaches(catalog, self._clock)
        # Re-entrant: building a token-exchange profile builds the profile it reads from.
        self._lock = threading.RLock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Registry:
        """Load a registry from a YAML file (discovered as documented when ``path`` is None).

        Keyword arguments are the constructor's, plus ``environ``: the mapping ``${VAR}``
        references are read from when each profile is built, at its first use
        (``os.environ`` when omitted), and ``plugins``: plugins without an entry point,
        by group and name (see docs/plugins.md).

        A problem scoped to one profile (a schema error, an unset ``${VAR}``, a missing
        extra or provider) does not stop the others: that profile's error is raised when it
        is used (see :meth:`problems`).

        Raises:
            ConfigError: The file is missing or unreadable, is not valid YAML, repeats a
                key, or has a file-level problem (``version``, ``defaults``,
                ``default_profile``, an unknown top-level key), reported with every
                profile's problems.
            PluginError: A name in ``plugins`` is already an installed entry point.
            PluginLoadError: An object in ``plugins`` does not keep its group's contract.
        """
        from tokenrack.config.assemble import load_config
        from tokenrack.config.discover import discover_config_path
        from tokenrack.config.exposure import refuse_untrusted_commands, warn_if_exposed
        from tokenrack.config.parsed import read_document
        from tokenrack.core.catalog import PluginCatalog

        catalog = kwargs.pop("catalog", None) or PluginCatalog()
        catalog.register_all(kwargs.pop("plugins", None) or {})
        given = kwargs.pop("environ", None)
        environ = private_environ(os.environ if given is None else given)
        del given  # only the private view stays in this frame

        def load() -> Config:
            document, remember = read_document(path if path is not None else discover_config_path())
            source = document.source
            config = load_config(
                document.data,
                source=source,
                plugins=catalog,
                environ=environ,
                marks=document.marks,
            )
            # Relative secret and key paths are the file's, wherever the process runs.
            config = replace(config, directory=os.path.dirname(os.path.abspath(source)))
            refuse_untrusted_commands(source, config)
            warn_if_exposed(source, config)
            remember(config)
            return config

        return cls(_loaded(load), catalog=catalog, **kwargs)

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
        messages), ``environ``: the mapping ``${VAR}`` references are read from when each
        profile is built, at its first use (``os.environ`` when omitted), and
        ``plugins`` as in :meth:`from_file`.

        Profiles are isolated from each other's problems, as in :meth:`from_file`.

        Raises:
            ConfigError: The config has a file-level problem, as in :meth:`from_file`.
            PluginError: A name in ``plugins`` is already an installed entry point.
            PluginLoadError: An object in ``plugins`` does not keep its group's contract.
        """
        from tokenrack.config.assemble import load_config
        from tokenrack.core.catalog import PluginCatalog

        catalog = kwargs.pop("catalog", None) or PluginCatalog()
        catalog.register_all(kwargs.pop("plugins", None) or {})
        variables = private_environ(os.environ if environ is None else environ)
        del environ  # only the private view stays in this frame

        def load() -> Config:
            return load_config(data, source=source, plugins=catalog, environ=variables)

        return cls(_loaded(load), catalog=catalog, **kwargs)

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
        """Every profile name of the config, in file order, usable or not."""
        return list(self._config.profiles)

    @property
    def default_profile(self) -> str | None:
        """The config's ``default_profile`` (a profile of the file), or None when unset.

        Nothing here uses it on its own: callers that take a profile name choose the
        explicit name first, then ``--profile`` / ``TOKENRACK_PROFILE``, then this.
        """
        return self._config.default_profile

    def problems(self) -> dict[str, ConfigError | PluginError]:
        """Every profile that loading found unusable, with the error its use raises.

        In file order; empty when every profile loaded. These are the problems found
        without running anything: the profile's schema, its ``${VAR}`` references, its
        provider and auth method and their extras. What only building the profile finds
        (its secrets, key material) is raised by :meth:`runtime` and :meth:`get_token`.

        Profiles are assembled and validated at their first use, so that a config of
        10,000 profiles loads in the time its YAML takes: this call assembles and validates
        every profile not used yet (once; about 0.1-0.5 ms each), and reports the same as
        when loading checked them all.
        """
        return self._config.problems()

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
        # The hot path: a fresh token is one dict read, one clock read and one small call
        # away (a subscript costs less than .get(), and misses once per profile). Every
        # other state is the store's; a shared cache is consulted only from there, through
        # ``refresh``.
        try:
            found = self._profiles[profile]
        except KeyError:
            found = self._profile(profile)
        if not force_refresh:
            entry = found.slot.entry  # fresh_token(), inlined: a call costs as much again
            if entry is not None and self._monotonic() < entry.refresh_at:
                found.stats.hits += 1
                return entry.token
        try:
            return self._store.get(
                found.runtime.cache_key,
                found.refresh,
                force=force_refresh,
                label=profile,
                on_hit=found.stats.hit,
            )
        except Exception as error:
            if not self._reread_if_refused(profile, found, error):
                raise
        # Refused, and the secrets are due to be read again: once more, with what they say
        # now (a rotated secret gets its own key; an unchanged one the same cooldown).
        return self.get_token(profile, force_refresh=force_refresh)

    async def aget_token(self, profile: str, *, force_refresh: bool = False) -> Token:
        """:meth:`get_token` for asyncio: the same cache, windows and single-flight.

        A cache hit never leaves the event loop's thread; a fetch runs in a worker thread
        while the loop keeps running, and coroutines and threads asking for the same token
        at the same time share one request.

        Raises:
            The same errors as :meth:`get_token`.
        """
        found = self._profiles.get(profile)
        if found is None:
            import asyncio

            # Building a profile loads plugins and may read files: not on the loop.
            found = await asyncio.to_thread(self._profile, profile)
        if not force_refresh:
            entry = found.slot.entry  # fresh_token(), inlined, as in get_token
            if entry is not None and self._monotonic() < entry.refresh_at:
                found.stats.hits += 1
                return entry.token
        try:
            return await self._store.aget(
                found.runtime.cache_key,
                found.refresh,
                force=force_refresh,
                label=profile,
                on_hit=found.stats.hit,
            )
        except Exception as error:
            if not self._reread_if_refused(profile, found, error):
                raise
        return await self.aget_token(profile, force_refresh=force_refresh)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per profile: what the cache and the endpoint did.

        Cache hits, fetches by reason, failures by kind, the last error, and the cached
        token's seconds left (None when nothing is cached). Profiles never used in this
        process show zeros. No value holds a secret or a token.
        """
        report: dict[str, dict[str, Any]] = {}
        for name in self.profiles():
            found = self._profiles.get(name)
            if found is None:
                report[name] = {**ProfileStats().snapshot(), "expires_in": None}
                continue
            entry = found.slot.entry
            left = entry.expires_at - self._monotonic() if entry is not None else None
            report[name] = {**found.stats.snapshot(), "expires_in": left}
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
        cache_key = self._profile(profile).runtime.cache_key
        return self._store.invalidate(cache_key, token=token, reason=reason)

    @property
    def default_cache(self) -> str | Mapping[str, Any]:
        """The ``cache`` of profiles that name none (``memory`` unless the caller chose)."""
        return self._default_cache

    @property
    def config(self) -> Config:
        """The loaded configuration (profiles as assembled and validated)."""
        return self._config

    def cached(self, profile: str) -> CachedToken | None:
        """The cached entry for ``profile`` and its windows, without fetching (diagnostics)."""
        return self._profile(profile).slot.entry

    def shared_cache(self, profile: str) -> SharedRefresh | None:
        """The shared cache layer behind ``profile``'s in-process cache (None: ``memory``).

        For administration; see :mod:`tokenrack.cache_admin`.

        Raises:
            ProfileNotFoundError: No such profile.
            PluginError: Its provider or auth method cannot be loaded.
        """
        return self._profile(profile).shared

    def runtime(self, profile: str) -> ProfileRuntime:
        """The assembled profile (provider, auth method, cache key) for diagnostics.

        Building it reads the profile's secrets and key material.

        Raises:
            ProfileNotFoundError: No such profile.
            ConfigError: The profile is unusable (its own problems, with file, path and
                line), or its secrets or key material are.
            PluginError: Its provider or auth method cannot be loaded.
        """
        return self._profile(profile).runtime

    def dpop_proof(
        self,
        profile: str,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A fresh DPoP proof (RFC 9449) of ``profile``'s key, for one request to ``url``.

        For HTTP clients other than :class:`BearerAuth`: send it as the ``DPoP`` header,
        with ``Authorization: DPoP <token>``. A proof is good for one request only.

        Args:
            profile: A profile with ``dpop: true``.
            method: The request's HTTP method.
            url: The request's URL (its query and fragment are left out of ``htu``).
            access_token: The token the request carries (adds ``ath``); None for a proof
                to a token endpoint.
            nonce: The server's ``DPoP-Nonce``, remembered for later proofs to that server
                (scheme, host and port); None: the one it last sent, if any.

        Raises:
            ProfileNotFoundError: No such profile.
            ConfigError: The profile does not have ``dpop: true``, or is unusable.
        """
        found = self._profile(profile).runtime
        if found.dpop is None:
            raise ConfigError(
                f"profile {profile!r} has no DPoP key: set dpop: true on it",
                file=self.source,
                profile=profile,
                path=f"profiles.{profile}.dpop",
            )
        found.dpop.nonces.remember(url, nonce)
        return found.dpop.proof(method, url, access_token=access_token)

    def close(self) -> None:
        """Release connections (if this registry made the transport) and delete key files.

        Key files are material written to disk for mutual TLS (see docs/auth/tls_client_auth.md).
        """
        with self._lock:
            transport = self._transport if self._owns_transport else None
            runtimes = [found.runtime for found in self._profiles.values()]
            runtimes += [runtime for _, runtime in self._retired]
        for runtime in runtimes:
            runtime.close()
        if transport is not None:
            transport.close()
        self._shared.close()

    def _profile(self, profile: str) -> _Profile:
        """The assembled profile, built at its first use (the one way to reach one).

        Raises:
            ProfileNotFoundError: No such profile.
            PluginError: Its provider, auth method or cache backend cannot be loaded.
        """
        found = self._profiles.get(profile)
        if found is not None:
            return found
        config = self._config.profile(profile)
        with self._lock:
            found = self._profiles.get(profile)
            if found is None:
                if config.unusable is not None:
                    # The same error object each time: without the frames of earlier raises.
                    raise config.unusable.with_traceback(None)
                # Relative ca_bundle and cache file paths are the config file's.
                config = replace(config, parsed=anchor_paths(config.parsed, self._config.directory))
                try:
                    secrets = self._secret_resolver(config)
                    option = config.parsed.cache
                    cache = self._shared.cache_for(
                        self._default_cache if option is None else option, secrets.resolve
                    )
                    runtime = ProfileRuntime(
                        config,
                        source=self._config.source,
                        catalog=self._catalog,
                        secrets=secrets,
                        transport=self._transport_instance(),
                        clock=self._clock,
                        rng=self._rng,
                        jitter=_profile_jitter(self._jitter, profile),
                        metadata=self._metadata,
                        shared_metadata=cache.metadata if cache is not None else None,
                        pins=self._pins,
                        shared_pins=cache.pins if cache is not None else None,
                        fingerprint=_fingerprint_for(cache, secrets),
                        stats=self._stats.setdefault(profile, ProfileStats()),
                        throttle=self._throttle,
                        tokens=_OtherProfiles(self),
                    )
                    slot = self._store.slot(runtime.cache_key)
                    refresh: Refresh = runtime.refresh
                    shared: SharedRefresh | None = None
                    if cache is not None:
                        transport = runtime.transport_options
                        shared = self._shared.refresh(
                            cache,
                            key=runtime.cache_key,
                            profile=runtime.name,
                            fetch=runtime.fetch,
                            windows=runtime.windows,
                            slot=slot,
                            resolve_secret=secrets.resolve,
                            # By default a lock outlives one request at the profile's timeouts.
                            default_lease=transport.connect_timeout + transport.read_timeout,
                            deadline=runtime.options.retry.deadline,
                        )
                        refresh = shared
                    refresh = with_cooldown(
                        refresh,
                        runtime.options.refusal_cooldown,
                        on_refusal=partial(self._retire, profile, runtime),
                    )
                    found = _Profile(
                        runtime, slot, refresh, runtime.stats, shared, self._monotonic()
                    )
                    self._profiles[profile] = found
                except ConfigError as error:
                    # Found while building (a secret, key material): placed in the file too.
                    located = self._located(error)
                    if located is error:
                        raise
                    raise located from None
            return found

    def _located(self, error: ConfigError) -> ConfigError:
        """``error`` with the line and column of each problem's path, where the file has one."""
        if type(error) not in (ConfigError, SecretError):
            return error  # a subclass with a constructor of its own: as it is
        problems = self._config.marks.locate(error.problems)
        if all(new is old for new, old in zip(problems, error.problems, strict=True)):
            return error
        return type(error)(problems=problems, file=error.file, profile=error.profile)

    def _reread_if_refused(self, profile: str, found: _Profile, error: BaseException) -> bool:
        """During a refusal's cooldown, build the profile again at most once a second.

        The refusal the server sent already retired the profile (``on_refusal``); its
        repetitions re-read the secrets only this often, so that a secret rotated during
        the cooldown is noticed within a second, and a ``{command:}`` secret is not run on
        every call.

        Returns:
            Whether the caller should ask once more (the profile will be built again).
        """
        if not is_refusal(error) or self._monotonic() - found.built_at < _REREAD_INTERVAL:
            return False
        self._retire(profile, found.runtime)
        return True

    def _retire(self, profile: str, runtime: ProfileRuntime) -> None:
        """Drop the built profile after a refusal, so the next call builds it again.

        Called once per refusal the server sent, not for its repetitions during the
        cooldown. Building reads the secrets again: a rotated secret gets a new cache key
        (and one fetch), an unchanged wrong one the same key and so the same refusal
        cooldown.
        """
        now = self._monotonic()
        with self._lock:
            found = self._profiles.get(profile)
            if found is not None and found.runtime is runtime:
                del self._profiles[profile]
                self._retired.append((now, runtime))
            # A thread may still hold a retired runtime for a moment (its key files in
            # use); after the grace period nothing does, and its files can go.
            expired = [entry for entry in self._retired if now - entry[0] > _RETIRED_GRACE]
            self._retired = [entry for entry in self._retired if entry not in expired]
        for _, old in expired:
            old.close()

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
            environ=self._config.environ,
            directory=self._config.directory,
            path_options=PATH_OPTIONS,
            rotating=ROTATING_OPTIONS,
        )

    def _transport_instance(self) -> Transport:
        if self._transport is None:
            self._transport = DeferredTransport()
        return self._transport


def _profile_jitter(draw: float, profile: str) -> float:
    """The profile's refresh jitter in [0, 1): this process's draw, offset by its name.

    One draw per process keeps processes apart; the offset keeps a process's profiles
    apart, so 1,000 profiles fetched in the same second do not all refresh in the same
    second either. The same name gets the same offset, in every process and after a
    rebuild; the sum stays uniform in [0, 1) whatever the offset.
    """
    digest = hashlib.blake2b(profile.encode(), digest_size=8).digest()
    return (draw + int.from_bytes(digest, "big") / 2.0**64) % 1.0


def _fingerprint_for(cache: SharedCache | None, secrets: SecretResolver) -> Fingerprint:
    """How the profile's credential is fingerprinted: keyed by who can see its cache keys."""
    if cache is None:
        return process_fingerprint()
    settings = cache.settings
    if settings.encryption_key is not None:
        try:
            return fleet_fingerprint(
                secrets.resolve("cache.encryption_key", settings.encryption_key)
            )
        except SecretError:
            # The shared layer is bypassed without its key; never key by nothing.
            return scrypt_fingerprint()
    if settings.backend == "file":
        path = settings.options.get("path")
        return user_fingerprint(str(path) if path else None)
    return scrypt_fingerprint()


class _OtherProfiles:
    """What a token-exchange profile may ask of its registry: other profiles' tokens."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get_token(self, profile: str, *, force_refresh: bool = False) -> Token:
        """``profile``'s token, cached and refreshed as its own (now, if forced)."""
        return self._registry.get_token(profile, force_refresh=force_refresh)

    def cache_key_of(self, profile: str) -> str:
        """``profile``'s cache key, building it if need be."""
        return self._registry.runtime(profile).cache_key

    def options_of(self, profile: str) -> Mapping[str, Any] | None:
        """``profile``'s options as loaded, or None when there is no such profile."""
        config = self._registry.config
        if profile not in config.profiles:
            return None
        return config.profile(profile).options
