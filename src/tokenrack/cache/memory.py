"""The ``memory`` cache backend: the reference :class:`~tokenrack.cache.backend.TokenCache`.

``cache: memory`` (the default) means the in-process cache alone, with no shared layer:
this class is not used for it. It exists as the smallest complete backend, for plugin
authors to read and for tests that exercise the shared layer without files or Redis; it is
shared by the registries of one process only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from tokenrack.secret.value import Secret

__all__ = ["MemoryCache"]

_NONE: Mapping[str, Secret] = MappingProxyType({})


class _MemoryLock:
    __slots__ = ("_cache", "_key", "_owner")

    def __init__(self, cache: MemoryCache, key: str, owner: object) -> None:
        self._cache = cache
        self._key = key
        self._owner = owner

    def release(self) -> None:
        """Release if still ours."""
        self._cache._release(self._key, self._owner)


class MemoryCache:
    """Records in a dict, with TTLs and leased locks on the monotonic clock.

    Args:
        options: The ``cache`` options (none used).
        secrets: Resolved secret options (none).
    """

    name: ClassVar[str] = "memory"
    options_schema: ClassVar[Mapping[str, Any]] = {"type": "object", "properties": {}}
    secret_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, options: Mapping[str, Any] | None = None, *, secrets: Mapping[str, Secret] = _NONE
    ) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, tuple[bytes, float]] = {}
        self._locks: dict[str, tuple[object, float]] = {}

    def describe(self) -> str:
        """``this process``."""
        return "this process"

    def get(self, key: str) -> bytes | None:
        """The live record for ``key``."""
        with self._lock:
            found = self._records.get(key)
            if found is None or found[1] <= time.monotonic():
                return None
            return found[0]

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store for ``ttl`` seconds."""
        with self._lock:
            self._records[key] = (value, time.monotonic() + ttl)

    def delete(self, key: str) -> bool:
        """Remove the record."""
        with self._lock:
            return self._records.pop(key, None) is not None

    def try_lock(self, key: str, *, lease: float) -> _MemoryLock | None:
        """Take the lock unless a live lease holds it."""
        with self._lock:
            held = self._locks.get(key)
            if held is not None and held[1] > time.monotonic():
                return None
            owner = object()
            self._locks[key] = (owner, time.monotonic() + lease)
            return _MemoryLock(self, key, owner)

    def _release(self, key: str, owner: object) -> None:
        with self._lock:
            held = self._locks.get(key)
            if held is not None and held[0] is owner:
                del self._locks[key]

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every live record."""
        now = time.monotonic()
        with self._lock:
            live = [(k, v) for k, (v, until) in self._records.items() if until > now]
        yield from sorted(live)

    def close(self) -> None:
        """Nothing to release."""
