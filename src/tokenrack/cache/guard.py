"""A shared cache behind a circuit breaker: a cache that fails never fails a caller.

:class:`GuardedCache` wraps a backend (:class:`~tokenrack.cache.backend.TokenCache`). When the
backend fails (:class:`~tokenrack.errors.CacheError`, or anything else it raises), the breaker
logs one warning per outage, answers "no cache" at once (a miss, not stored, or
:data:`LOCAL_LOCK` for a lock, so the caller fetches on its own, still single-flight within
its process) and tries the backend again after a backoff, logging when it answers again.

An outage ends when every operation that failed has worked again: a cache that reads but
cannot write (a read-only or full disk) is one outage, not an "unavailable" and an "answers
again" at every refresh. A held lock is always released, whatever the breaker says.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tokenrack.cache.backend import CacheLock, TokenCache
from tokenrack.errors import CacheError
from tokenrack.oauth.retry import FAILURE_BACKOFF
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

__all__ = ["LOCAL_LOCK", "GuardedCache"]

logger = get_logger(__name__)


class _LocalLock:
    """Stands in for the cross-process lock while the cache is down: nothing to release."""

    def release(self) -> None:
        """Nothing."""


LOCAL_LOCK = _LocalLock()


class GuardedCache:
    """A backend behind a circuit breaker; no method ever raises a cache failure.

    The backend is built at first use (so a Redis password is read only then). On a
    failure the breaker opens: one warning is logged, every call returns its "no cache"
    answer at once, and after a backoff (1, 2, 5, 10, then 30 s) calls try the backend
    again; the first success closes it and says so in the log.

    Args:
        build: Makes the backend (may raise CacheError, e.g. a missing package).
        name: The backend's name, for messages.
        clock: Monotonic time for the backoff.
    """

    def __init__(self, build: Callable[[], TokenCache], *, name: str, clock: Clock) -> None:
        self.name = name
        self._build = build
        self._clock = clock
        self._backend: TokenCache | None = None
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failing: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"GuardedCache({self.describe()!r}, down={self.down})"

    @property
    def down(self) -> bool:
        """Whether the breaker is open (the last call to the backend failed)."""
        return self._down_since is not None

    def describe(self) -> str:
        """The backend's name and location, for logs."""
        backend = self._backend
        return f"{self.name} {backend.describe()}" if backend is not None else self.name

    def backend(self) -> TokenCache:
        """The backend itself, built if needed (administration; raises its errors).

        Raises:
            CacheError: It cannot be built.
        """
        with self._lock:
            if self._backend is None:
                self._backend = self._build()
            return self._backend

    def _call(self, operation: str, call: Callable[[TokenCache], Any], failed: Any) -> Any:
        if self._down_since is not None and self._clock.monotonic() < self._retry_at:
            return failed
        try:
            result = call(self.backend())
        except Exception as error:
            self._failed(operation, error)
            # Handled here: keep no traceback, whose frames hold the record being written
            # (the token itself, in a plaintext cache) for anything that renders it later.
            error.__traceback__ = None
            return failed
        if self._down_since is not None:
            self._worked(operation)
        return result

    def _failed(self, operation: str, error: Exception) -> None:
        now = self._clock.monotonic()
        if isinstance(error, CacheError):
            why = str(error)
        else:
            # A third-party backend broke its contract; say what it raised, not its text.
            why = f"the backend raised {type(error).__name__} on {operation}"
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
                self._failures = 0
            self._failing.add(operation)
            self._failures += 1
            wait = FAILURE_BACKOFF.after(self._failures)
            self._retry_at = now + wait
        if first:
            logger.warning(
                "token cache %s is unavailable (%s); fetching tokens without it, one fetch "
                "per process, until it answers again (next try in %.0fs)",
                self.describe(),
                why,
                wait,
            )
        else:
            logger.debug("token cache %s still unavailable: %s", self.describe(), why)

    def _worked(self, operation: str) -> None:
        """Close the breaker once every operation that failed during the outage has worked."""
        with self._lock:
            self._failing.discard(operation)
            if self._failing:
                return
            since, self._down_since = self._down_since, None
            self._failures = 0
        if since is not None:
            logger.warning(
                "token cache %s answers again after %.0fs; sharing tokens through it again",
                self.describe(),
                self._clock.monotonic() - since,
            )

    def get(self, key: str) -> bytes | None:
        """The record, or None (absent, or the cache is down)."""
        result: bytes | None = self._call("get", lambda cache: cache.get(key), None)
        return result

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store a record; whether it was stored."""

        def store(cache: TokenCache) -> bool:
            cache.set(key, value, ttl=ttl)
            return True

        stored: bool = self._call("set", store, False)
        return stored

    def delete(self, key: str) -> bool:
        """Remove a record; whether one was removed."""
        removed: bool = self._call("delete", lambda cache: cache.delete(key), False)
        return removed

    def try_lock(self, key: str, *, lease: float) -> CacheLock | None:
        """The lock; None while another process holds it; :data:`LOCAL_LOCK` when down."""
        lock: CacheLock | None = self._call(
            "lock", lambda cache: cache.try_lock(key, lease=lease), LOCAL_LOCK
        )
        return lock

    def release(self, lock: CacheLock) -> None:
        """Release a lock, even while the breaker is open (a failure is left to the lease).

        A lock that is held must never outlive its refresh because a write failed just
        before: a leaked ``flock`` would block every process until this one exits.
        """
        if lock is LOCAL_LOCK:
            return
        try:
            lock.release()
        except Exception as error:
            logger.debug(
                "token cache %s: releasing a lock failed (%s); its lease ends it",
                self.describe(),
                type(error).__name__,
            )

    def close(self) -> None:
        """Close the backend, if it was built."""
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as error:
                logger.debug("closing token cache %s: %s", self.name, type(error).__name__)
