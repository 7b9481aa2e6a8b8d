"""The seam between tokenrack and a shared token cache: :class:`TokenCache`.

A backend (entry-point group ``tokenrack.caches``) is a dumb, shared store of opaque
records: bytes under a cache key, each with a time to live, plus a lock per key with a
bounded lease. It knows nothing of tokens, windows or encryption; the shared layer
(:mod:`tokenrack.core.shared`) encodes, encrypts, validates and decides, written once for every
backend. The in-process cache stays in front of every backend, so a backend is asked only
when that front has no fresh token.

A backend reports any failure (unreachable, timed out, unsafe permissions, a broken
answer) by raising :class:`~tokenrack.errors.CacheError`; the shared layer turns that into
"fetch on our own" and a single warning per outage, so ``get_token`` never raises because
a cache failed.

Plugin authors import :class:`TokenCache`, :class:`CacheLock` and ``CacheError`` from
:mod:`tokenrack.plugin`; the catalog checks a backend against these protocols when it
loads (:mod:`tokenrack.core.plugin_contract`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Protocol

from tokenrack.secret.value import Secret

__all__ = ["CacheLock", "TokenCache", "TokenCacheBackend"]


class CacheLock(Protocol):
    """A held cross-process lock on one cache key."""

    def release(self) -> None:
        """Give the lock up, if this holder still has it (never someone else's).

        Called after every refresh that took the lock, even when the backend has just
        failed (a write refused): it must not depend on the failed operation.

        Raises:
            CacheError: The backend could not be reached (the lease then ends it).
        """
        ...


class TokenCache(Protocol):
    """A shared store of encoded token records, one per cache key.

    Keys are tokenrack's cache keys: hex digests that never contain a secret. Values are
    opaque bytes (a versioned record, possibly encrypted). Every method may raise
    :class:`~tokenrack.errors.CacheError`, and must return or raise within the backend's
    configured timeout: a cache is never allowed to hang a caller.
    """

    name: str
    """The backend's entry-point name (``file``, ``redis``, …)."""

    def describe(self) -> str:
        """Where the records live, for logs (a directory, ``redis://host:port/db``).

        Never includes a password or any other secret.
        """
        ...

    def get(self, key: str) -> bytes | None:
        """The record stored under ``key``, or None when there is none."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (the token's remaining life).

        A reader must see either the old record or the new one, never a mixture.
        """
        ...

    def delete(self, key: str) -> bool:
        """Remove the record under ``key``; whether there was one."""
        ...

    def try_lock(self, key: str, *, lease: float) -> CacheLock | None:
        """Take the cross-process lock on ``key`` without waiting, or None if it is held.

        The shared layer also locks ``<cache key>:takeover``, the lock one waiter takes
        once the first lock has been held for its lease; a backend treats it as any key.

        Args:
            key: The cache key (or its takeover name).
            lease: Seconds after which the lock ends by itself, even if its holder died
                or hangs (a backend whose locks die with their process, like ``flock``,
                may rely on that instead).
        """
        ...

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every record this cache holds, as (where it is, the record), for administration."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class TokenCacheBackend(Protocol):
    """What an entry point in ``tokenrack.caches`` points to: a :class:`TokenCache` class.

    ``options_schema`` is the JSON Schema (an object schema) of the backend's own keys
    under a profile's ``cache`` mapping; the core adds ``backend``, ``encryption_key`` and
    ``lock_lease``. Keys named in ``secret_options`` take a secret (``{env: …}``, …) and
    reach the constructor resolved, in ``secrets``, and never in ``options``.
    """

    name: ClassVar[str]
    options_schema: ClassVar[Mapping[str, Any]]
    secret_options: ClassVar[frozenset[str]]

    def __call__(self, options: Mapping[str, Any], *, secrets: Mapping[str, Secret]) -> TokenCache:
        """Build the cache from a profile's ``cache`` options.

        Raises:
            CacheError: The options cannot work here (e.g. a missing optional package).
        """
        ...
