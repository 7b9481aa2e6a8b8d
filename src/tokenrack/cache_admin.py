"""Looking into and emptying token caches: what ``tokenrack cache list | purge`` calls.

Everything here is metadata: the profile, the backend and where the record lives, when the
token expires and what state it is in. No function here returns, logs or prints a token.

Example::

    from tokenrack import Registry
    from tokenrack.cache_admin import list_cache_entries, purge_cache

    registry = Registry.from_file("tokenrack.yaml")
    for entry in list_cache_entries(registry):
        print(entry.profile, entry.backend, entry.state, entry.expires_in)
    purge_cache(registry, profile="billing")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokenrack.cache.record import RecordError
from tokenrack.errors import CacheError, SecretError
from tokenrack.token import Token
from tokenrack.util.clock import Clock, SystemClock

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry

__all__ = ["CacheEntry", "PurgeResult", "list_cache_entries", "purge_cache"]

# Windows carry a token; a record's state depends on its times alone.
_NO_TOKEN = Token(access_token="-", token_type="-", expires_at=0.0)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached token, described without the token.

    Attributes:
        profile: The profile it belongs to.
        backend: ``memory`` (this process), or the shared backend's name (``file``,
            ``redis``, …).
        location: Where it lives: ``this process``, a file path, a Redis server and key
            prefix (never a password).
        state: ``fresh``, ``early``, ``mandatory`` or ``expired`` (see docs/refresh.md),
            ``absent`` when the backend holds nothing for the profile, ``unreadable`` when
            its record cannot be used (``detail`` says why), or ``unavailable`` when the
            backend cannot be reached or is unsafe (``detail`` says why).
        expires_at: Epoch seconds the token expires, when known.
        encrypted: Whether the shared record is encrypted.
        detail: Why an entry is unreadable or unavailable.
    """

    profile: str
    backend: str
    location: str
    state: str
    expires_at: float | None = None
    encrypted: bool = False
    detail: str = ""

    @property
    def expires_in(self) -> float | None:
        """Seconds until expiry (negative once expired), by this host's clock."""
        return None if self.expires_at is None else self.expires_at - time.time()


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What :func:`purge_cache` removed.

    Attributes:
        memory: Profiles whose in-process token was dropped.
        shared: Profiles whose shared record was deleted.
        failed: Profiles whose shared cache could not be reached, with the reason.
    """

    memory: tuple[str, ...]
    shared: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def _profiles(registry: Registry, profile: str | None) -> list[str]:
    if profile is None:
        return registry.profiles()
    registry.config.profile(profile)  # raises ProfileNotFoundError for an unknown name
    return [profile]


def _unbound(registry: Registry, name: str, error: SecretError) -> CacheEntry:
    """A profile whose cache key cannot be known: it binds a secret that cannot be read."""
    option = registry.config.profile(name).parsed.cache
    cache = registry.default_cache if option is None else option
    backend = cache if isinstance(cache, str) else str(cache.get("backend", "?"))
    return CacheEntry(name, backend, "-", "unavailable", detail=_unbound_reason(error))


def _unbound_reason(error: SecretError) -> str:
    return f"the cache key binds the credential, and a secret cannot be read: {error}"


def list_cache_entries(
    registry: Registry, *, profile: str | None = None, clock: Clock | None = None
) -> list[CacheEntry]:
    """Every cached token of the registry's profiles (or of one), as metadata.

    For each profile: its in-process entry, when this process holds one, and its shared
    record, for profiles with a shared cache. A backend that cannot be read gives an
    ``unavailable`` entry rather than an error, so one broken cache does not hide the
    others. Records are read, never refreshed; no token is fetched.

    Args:
        registry: The registry whose profiles to look at.
        profile: Only this profile.
        clock: The clock the registry was built with (the system clock by default).

    Raises:
        ProfileNotFoundError: ``profile`` is not in the registry.
        PluginError: A profile's provider or auth method cannot be loaded.

    A profile whose secrets cannot be read has no known cache key (it binds the credential):
    it is listed ``unavailable``, ``detail`` saying which secret.
    """
    clock = clock or SystemClock()
    entries: list[CacheEntry] = []
    monotonic = clock.monotonic()
    now = clock.time()
    for name in _profiles(registry, profile):
        try:
            cached = registry.cached(name)
        except SecretError as error:
            entries.append(_unbound(registry, name, error))
            continue
        if cached is not None:
            entries.append(
                CacheEntry(
                    profile=name,
                    backend="memory",
                    location="this process",
                    state=cached.state(monotonic),
                    expires_at=cached.token.expires_at,
                )
            )
        shared = registry.shared_cache(name)
        if shared is None:
            continue
        backend = shared.cache.name
        try:
            location = shared.cache.backend().describe()
            info = shared.record()
        except CacheError as error:
            entries.append(
                CacheEntry(name, backend, shared.cache.describe(), "unavailable", detail=str(error))
            )
            continue
        except RecordError as error:
            entries.append(CacheEntry(name, backend, location, "unreadable", detail=str(error)))
            continue
        if info is None:
            entries.append(CacheEntry(name, backend, location, "absent"))
            continue
        runtime = registry.runtime(name)
        age = max(0.0, now - info.obtained_at)
        placed = runtime.windows.entry(
            _NO_TOKEN, obtained_at=monotonic - age, lifetime=info.lifetime
        )
        entries.append(
            CacheEntry(
                profile=name,
                backend=backend,
                location=location,
                state=placed.state(monotonic),
                expires_at=info.expires_at,
                encrypted=info.encrypted,
            )
        )
    return entries


def purge_cache(registry: Registry, *, profile: str | None = None) -> PurgeResult:
    """Drop cached tokens: in this process, and in each profile's shared cache.

    The next ``get_token`` for a purged profile fetches a new token (and, with a shared
    cache, stores it for the others).

    Args:
        registry: The registry whose profiles to purge.
        profile: Only this profile (default: every profile of the registry).

    Raises:
        ProfileNotFoundError: ``profile`` is not in the registry.
        PluginError: A profile's provider or auth method cannot be loaded.

    A profile whose secrets cannot be read is in ``failed``: its cache key binds the
    credential, so its records cannot be found.
    """
    memory: list[str] = []
    shared_done: list[str] = []
    failed: list[tuple[str, str]] = []
    for name in _profiles(registry, profile):
        try:
            dropped = registry.invalidate(name, reason="purged")
        except SecretError as error:
            failed.append((name, _unbound_reason(error)))
            continue
        if dropped:
            memory.append(name)
        shared = registry.shared_cache(name)
        if shared is None:
            continue
        try:
            if shared.purge():
                shared_done.append(name)
        except CacheError as error:
            failed.append((name, str(error)))
    return PurgeResult(memory=tuple(memory), shared=tuple(shared_done), failed=tuple(failed))
