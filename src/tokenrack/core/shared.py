"""The shared layer: one token per fleet, behind the in-process cache.

The in-process :class:`~tokenrack.core.store.TokenStore` stays in front of every backend and
decides *when* to refresh (its windows, its single-flight per process). When it does, it
calls a :class:`SharedRefresh` instead of fetching straight away, which:

1. reads the shared record and adopts it if another process stored a usable token: stored
   under this key, authenticated when sealed (the sealed copy of its times and token is the
   only one used), within the bounds of :mod:`tokenrack.cache.envelope` (its lifetime
   capped), not expired, neither the token this process holds nor the one it just saw
   rejected, and fresh or in its early window by this process's windows. From a
   ``plaintext: true`` cache, a record whose ``extra`` holds a URL or a nested value is not
   adopted (anyone who can write the cache could point the caller elsewhere);
2. otherwise takes the cross-process lock for the key, polling until it is free or a
   usable token appears (bounded by the lease), reads again, and only then fetches and
   stores the token with a TTL of its remaining lifetime;
3. releases the lock.

So in the early window exactly one process of the fleet refreshes while every other keeps
serving its token; the others adopt the new token at their own (jittered) early refresh.

A cache that fails never fails a caller: the backend sits behind a circuit breaker
(:class:`~tokenrack.cache.guard.GuardedCache`), and the layer then fetches without it (still
single-flight within the process). How a profile's ``cache`` option becomes one of these is
:mod:`tokenrack.core.cache_wiring`.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tokenrack.cache.backend import CacheLock
from tokenrack.cache.guard import LOCAL_LOCK, GuardedCache
from tokenrack.cache.record import (
    RecordCipher,
    RecordError,
    RecordInfo,
    StoredToken,
    decode_record,
    encode_record,
    record_info,
)
from tokenrack.core.store import CachedToken, RefreshWindows, Slot
from tokenrack.errors import CacheError
from tokenrack.oauth.flow import FetchResult
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

__all__ = ["SharedRefresh"]

logger = get_logger(__name__)

_POLL_FIRST = 0.005
_POLL_MAX = 0.05


class SharedRefresh:
    """A profile's refresh through a shared cache (a ``Refresh`` for the TokenStore).

    Args:
        key: The cache key.
        profile: The profile's name (logs, record metadata).
        cache: The guarded backend.
        fetch: Fetches a token from the endpoint.
        windows: The profile's refresh windows (this process's jitter included).
        slot: The in-process slot for ``key`` (its current and rejected tokens).
        clock: Time for the windows and the records (polls for a lock use real time).
        lease: Seconds a lock lasts, and so the longest a caller waits for another
            process's refresh before fetching itself.
        cipher: Makes the record cipher at first use, or returns None (no encryption).
            May raise SecretError (passed on) or CacheError (the cache is then bypassed).
        plaintext: The cache is a ``plaintext: true`` one: records are not authenticated
            and others may write them, so their ``extra`` is held to scalars that are not URLs.
    """

    def __init__(
        self,
        *,
        key: str,
        profile: str,
        cache: GuardedCache,
        fetch: Callable[[str], FetchResult],
        windows: RefreshWindows,
        slot: Slot,
        clock: Clock,
        lease: float,
        cipher: Callable[[], RecordCipher | None] = lambda: None,
        plaintext: bool = False,
    ) -> None:
        self.key = key
        self.profile = profile
        self.cache = cache
        self.lease = lease
        self._fetch = fetch
        self._windows = windows
        self._slot = slot
        self._clock = clock
        self._make_cipher = cipher
        self._plaintext = plaintext
        self._cipher: RecordCipher | None = None
        self._cipher_ready = False
        self._bypass = False
        self._cipher_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedRefresh(profile={self.profile!r}, cache={self.cache.describe()!r})"

    # -- the refresh ---------------------------------------------------------------------

    def __call__(self, reason: str) -> CachedToken:
        """Obtain a token for the TokenStore: adopt another process's, or fetch under lock.

        Raises:
            TokenError: The fetch failed (cache failures are never raised).
            SecretError: The profile's ``encryption_key`` cannot be read.
        """
        forced = reason == "forced"
        if self._usable() and not forced:
            adopted = self._adopt()
            if adopted is not None:
                return adopted
        lock: CacheLock | CachedToken = LOCAL_LOCK
        if self._usable():
            lock = self._wait_for_lock(forced=forced)
        if isinstance(lock, CachedToken):
            return lock
        try:
            if lock is not LOCAL_LOCK and not forced:
                # Whoever held the lock before us may have stored a token just now.
                adopted = self._adopt()
                if adopted is not None:
                    return adopted
            result = self._fetch(reason)
            if self._usable():
                try:
                    self._store(result)
                except Exception as error:  # a cache must never fail a caller
                    logger.warning(
                        "token cache %s: could not store the token for %s (%s)",
                        self.cache.describe(),
                        self.profile,
                        type(error).__name__,
                    )
        finally:
            self.cache.release(lock)
        return self._windows.entry(
            result.token, obtained_at=result.obtained_at, lifetime=result.lifetime
        )

    def _wait_for_lock(self, *, forced: bool) -> CacheLock | CachedToken:
        """The lock, a token another process stored meanwhile, or LOCAL_LOCK at the lease."""
        # Leases run on the backend's real clock (Redis PX, a process's life), so waiting
        # for one is measured in real time, whatever clock the windows use.
        deadline = time.monotonic() + self.lease
        delay = _POLL_FIRST
        while True:
            lock = self.cache.try_lock(self.key, lease=self.lease)
            if lock is not None:
                return lock
            if not forced:
                adopted = self._adopt()
                if adopted is not None:
                    return adopted
            if time.monotonic() >= deadline:
                logger.warning(
                    "token cache %s: another process held the refresh lock for %s for "
                    "%.1fs (the lease); fetching here",
                    self.cache.describe(),
                    self.profile,
                    self.lease,
                )
                return LOCAL_LOCK
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    def _adopt(self) -> CachedToken | None:
        """A usable token another process stored, placed in this process's windows."""
        data = self.cache.get(self.key)
        if data is None:
            return None
        now_wall = self._clock.time()
        try:
            stored = decode_record(data, key=self.key, now=now_wall, cipher=self._cipher_or_none())
            if self._plaintext and _unsafe_extra(stored.token.extra):
                raise RecordError(
                    "an unencrypted record whose extra holds a URL or a nested value "
                    "(not trusted from a plaintext cache)"
                )
        except RecordError as error:
            logger.warning(
                "token cache %s: the record for %s is unusable (%s); treating it as a miss; "
                "it will be replaced",
                self.cache.describe(),
                self.profile,
                error,
            )
            return None
        # The record was checked against now_wall in decode_record, so age() cannot raise.
        age = stored.age(now_wall)
        if age >= stored.lifetime:
            logger.info(
                "token cache %s: the record for %s has expired; treating it as a miss",
                self.cache.describe(),
                self.profile,
            )
            # Nobody may serve it again, even after this host's clock steps back. Best
            # effort: a backend's failure here (a plugin's too) must not fail the call.
            with contextlib.suppress(Exception):
                self.cache.backend().delete(self.key)
            return None
        rejected = self._slot.rejected
        if rejected is not None and hmac.compare_digest(
            rejected.access_token.encode(), stored.token.access_token.encode()
        ):
            return None
        current = self._slot.entry
        if current is not None and hmac.compare_digest(
            current.token.access_token.encode(), stored.token.access_token.encode()
        ):
            return None  # the token this process already has and wants to replace
        now = self._clock.monotonic()
        entry = self._windows.entry(stored.token, obtained_at=now - age, lifetime=stored.lifetime)
        # An early-window token is worth taking (callers get it at once, and one process
        # refreshes it); one in the mandatory window is not: refresh it now, under the lock.
        if entry.state(now) in ("fresh", "early"):
            logger.info(
                "token for profile %s read from token cache %s (expires in %.0fs)",
                self.profile,
                self.cache.describe(),
                stored.lifetime - age,
            )
            return entry
        return None

    def _store(self, result: FetchResult) -> None:
        clock = self._clock
        now_wall = clock.time()
        obtained_at = now_wall - max(0.0, clock.monotonic() - result.obtained_at)
        stored = StoredToken(token=result.token, obtained_at=obtained_at, lifetime=result.lifetime)
        ttl = stored.expires_at - now_wall
        if ttl <= 0:
            return
        data = encode_record(
            stored,
            key=self.key,
            profile=self.profile,
            now=now_wall,
            cipher=self._cipher_or_none(),
        )
        self.cache.set(self.key, data, ttl=ttl)

    # -- encryption ----------------------------------------------------------------------

    def _usable(self) -> bool:
        """Whether to use the cache at all (not when encryption is set up but unavailable)."""
        self._cipher_or_none()
        return not self._bypass

    def _cipher_or_none(self) -> RecordCipher | None:
        if self._cipher_ready:
            return self._cipher
        with self._cipher_lock:
            if not self._cipher_ready:
                try:
                    self._cipher = self._make_cipher()
                except CacheError as error:
                    # Never store tokens in the clear when encryption was asked for.
                    self._bypass = True
                    logger.warning(
                        "token cache for profile %s is not used: %s", self.profile, error
                    )
                self._cipher_ready = True
        return self._cipher

    # -- administration ------------------------------------------------------------------

    def record(self) -> RecordInfo | None:
        """The shared record's metadata for this key, or None when there is none.

        Raises:
            CacheError: The cache cannot be read (administration sees failures).
            RecordError: The record is not readable.
        """
        data = self.cache.backend().get(self.key)
        return record_info(data) if data is not None else None

    def purge(self) -> bool:
        """Delete the shared record for this key.

        Raises:
            CacheError: The cache cannot be reached.
        """
        return self.cache.backend().delete(self.key)


def _unsafe_extra(extra: Mapping[str, Any]) -> bool:
    """Whether ``extra`` holds a nested value or a URL-like string (not from plaintext)."""
    for value in extra.values():
        if isinstance(value, (dict, list)):
            return True
        if isinstance(value, str) and ("://" in value or value.startswith("//")):
            return True
    return False
