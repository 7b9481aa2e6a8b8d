"""From a profile's ``cache`` option to its shared layer: which backend, which breaker, which lease.

The registry asks :class:`SharedCaches` for each profile's
:class:`~tokenrack.core.shared.SharedRefresh` (None for ``memory``). Profiles whose settings
name the same backend with the same options and secrets share one backend instance and so
one circuit breaker; secrets (the backend's and the ``encryption_key``) are resolved at
first use, through the profile, so a missing one names the profile that asked for it.
Server metadata is shared only through a cache with an ``encryption_key``
(:class:`~tokenrack.core.endpoint.SealedMetadata`); ``auth_method: auto``'s pins through any
shared cache, sealed when it has a key (:class:`~tokenrack.core.auto_auth.SharedPins`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from tokenrack.cache.settings import (
    PLAINTEXT_PROBLEM,
    CacheSettings,
    cache_settings,
    needs_plaintext_opt_in,
)
from tokenrack.core.auto_auth import SharedPins
from tokenrack.core.endpoint import MetadataStore, SealedMetadata
from tokenrack.errors import CacheError, ConfigError, PluginError, SecretError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tokenrack.cache.backend import TokenCache
    from tokenrack.cache.guard import GuardedCache
    from tokenrack.cache.record import RecordCipher
    from tokenrack.core.catalog import PluginCatalog
    from tokenrack.core.shared import Fetch, SharedRefresh
    from tokenrack.core.store import RefreshWindows, Slot
    from tokenrack.secret.value import Secret
    from tokenrack.util.clock import Clock

__all__ = ["ResolveSecret", "SharedCache", "SharedCaches"]

ResolveSecret = Callable[[str, Any], "Secret"]
"""Resolves one of a profile's secrets: ``(path under the profile, value as loaded)``."""


class SharedCache(NamedTuple):
    """A profile's shared backend: its parsed settings and the breaker in front of it.

    ``metadata`` is where the profile shares server metadata: sealed with its
    ``encryption_key``, or None without one (then never shared). ``pins`` is where
    ``auth_method: auto`` shares the method that worked.
    """

    settings: CacheSettings
    cache: GuardedCache
    metadata: MetadataStore | None = None
    pins: SharedPins | None = None


class SharedCaches:
    """The shared backends of one registry, each behind its own circuit breaker.

    Args:
        catalog: Where backend plugins come from.
        clock: Time for the breakers and the shared layers.
    """

    def __init__(self, catalog: PluginCatalog, clock: Clock) -> None:
        self._catalog = catalog
        self._clock = clock
        self._caches: dict[str, GuardedCache] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedCaches(backends={len(self._caches)})"

    def cache_for(self, option: Any, resolve_secret: ResolveSecret) -> SharedCache | None:
        """The shared backend a profile's ``cache`` names, or None when it is ``memory``.

        Known before the profile's runtime is built, which is given the backend for the
        server metadata it shares.

        Args:
            option: The profile's ``cache`` value (a backend name or a mapping).
            resolve_secret: Resolves the profile's secrets (``cache.<option>``).

        Raises:
            PluginError: The backend named is not installed or cannot be loaded.
            ConfigError: The backend needs ``encryption_key`` or ``plaintext: true`` and the
                option has neither (a config file's profiles are checked at load already;
                this catches a registry's ``default_cache``).
        """
        backend = option if isinstance(option, str) else (option or {}).get("backend")
        if backend in (None, "memory"):
            return None
        backend_class = self._catalog.cache(str(backend))
        settings = cache_settings(option, secret_options=frozenset(backend_class.secret_options))
        if needs_plaintext_opt_in(settings, backend_class.options_schema):
            raise ConfigError(
                f"a {backend} cache: {PLAINTEXT_PROBLEM}", path="cache.encryption_key"
            )
        guarded = self._guarded(settings, resolve_secret)
        metadata = None
        pins = SharedPins(guarded)
        if settings.encryption_key is not None:
            metadata = SealedMetadata(guarded, _cipher_maker(settings, resolve_secret))
            pins = SharedPins(guarded, _cipher_maker(settings, resolve_secret))
        return SharedCache(settings, guarded, metadata, pins)

    def refresh(
        self,
        shared: SharedCache,
        *,
        key: str,
        profile: str,
        fetch: Fetch,
        windows: RefreshWindows,
        slot: Slot,
        resolve_secret: ResolveSecret,
        default_lease: float,
        deadline: float | None = None,
    ) -> SharedRefresh:
        """The shared layer for a profile whose ``cache`` names a shared backend.

        Args:
            shared: What :meth:`cache_for` returned for the profile.
            key: The profile's cache key.
            profile: The profile's name.
            fetch: Fetches a token from the endpoint.
            windows: The profile's refresh windows.
            slot: The in-process slot for ``key``.
            resolve_secret: Resolves the profile's secrets (``cache.<option>``).
            default_lease: The lock lease when the option sets no ``lock_lease``.
            deadline: The profile's ``deadline``: a call's lock wait and fetch share it.
        """
        # The shared layer (and its record format) loads with the first shared cache: a
        # process whose profiles all use the in-process cache never imports it (issue 15).
        from tokenrack.core.shared import SharedRefresh

        settings = shared.settings
        return SharedRefresh(
            key=key,
            profile=profile,
            cache=shared.cache,
            fetch=fetch,
            windows=windows,
            slot=slot,
            clock=self._clock,
            lease=settings.lock_lease or default_lease,
            deadline=deadline,
            cipher=_cipher_maker(settings, resolve_secret),
            plaintext=settings.encryption_key is None and settings.options.get("plaintext") is True,
        )

    def close(self) -> None:
        """Close every backend built so far."""
        with self._lock:
            caches = list(self._caches.values())
        for cache in caches:
            cache.close()

    def _guarded(self, settings: CacheSettings, resolve_secret: ResolveSecret) -> GuardedCache:
        """The breaker for these settings: the one already made for the same identity, if any."""
        from tokenrack.cache.guard import GuardedCache

        identity = settings.identity()
        with self._lock:
            cache = self._caches.get(identity)
            if cache is None:
                cache = GuardedCache(
                    self._builder(settings, resolve_secret),
                    name=settings.backend,
                    clock=self._clock,
                )
                self._caches[identity] = cache
            return cache

    def _builder(
        self, settings: CacheSettings, resolve_secret: ResolveSecret
    ) -> Callable[[], TokenCache]:
        def build() -> TokenCache:
            # Built at first use, so a backend's password is read only when needed; a
            # failure here is a cache failure (the breaker opens), not a caller's.
            try:
                backend = self._catalog.cache(settings.backend)
                secrets = {
                    name: resolve_secret(f"cache.{name}", value)
                    for name, value in settings.secrets.items()
                }
            except (PluginError, SecretError) as error:
                raise CacheError(str(error), backend=settings.backend) from None
            return backend(settings.options, secrets=secrets)

        return build


def _cipher_maker(
    settings: CacheSettings, resolve_secret: ResolveSecret
) -> Callable[[], RecordCipher | None]:
    """Makes the record cipher at first use (None when the profile sets no encryption_key)."""

    def cipher() -> RecordCipher | None:
        if settings.encryption_key is None:
            return None
        # Imported here: cryptography is needed only by profiles that encrypt.
        from tokenrack.cache.record import RecordCipher

        return RecordCipher(resolve_secret("cache.encryption_key", settings.encryption_key))

    return cipher
