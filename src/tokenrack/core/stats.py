"""Counters per profile, for ``Registry.stats()``: what the cache and the endpoint did."""

from __future__ import annotations

import threading
import time

__all__ = ["ProfileStats"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ProfileStats:
    """Cache hits, fetches by reason, failures by kind, and the last error, for one profile.

    ``hits`` is counted on the hot path without a lock, so under heavy contention between
    threads it may undercount slightly; every other counter is exact.

    Attributes:
        hits: Calls served from the in-process cache without waiting for a fetch.
    """

    __slots__ = ("_failures", "_fetches", "_lock", "hits", "last_error", "last_error_at")

    def __init__(self) -> None:
        self.hits = 0
        self._fetches: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._lock = threading.Lock()

    def hit(self) -> None:
        """Count one call served from the cache."""
        self.hits += 1

    def fetched(self, reason: str) -> None:
        """Count one fetch begun, by its reason (``cold``, ``early``, ``expired``, …)."""
        with self._lock:
            self._fetches[reason] = self._fetches.get(reason, 0) + 1

    def failed(self, error: BaseException) -> None:
        """Count one failed fetch by the kind of its error, and keep its message."""
        kind = type(error).__name__
        with self._lock:
            self._failures[kind] = self._failures.get(kind, 0) + 1
            self.last_error = str(error)
            self.last_error_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain data (no secret: error messages never hold one)."""
        with self._lock:
            return {
                "hits": self.hits,
                "fetches": dict(self._fetches),
                "failures": dict(self._failures),
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
            }
