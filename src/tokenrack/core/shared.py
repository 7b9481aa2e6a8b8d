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
   usable token appears, reads again, and only then fetches and stores the token with a
   TTL of its remaining lifetime. The wait is bounded: by the profile's ``deadline``,
   which the wait and the fetch share; in the mandatory window by half the time the
   process's token has left; and once the holder has held the lock for the lease, one
   waiter (the one that gets the key's takeover lock) fetches while the others keep
   waiting for its record;
3. releases the lock, always (even when the write failed or the breaker is open).

So in the early window exactly one process of the fleet refreshes while every other keeps
serving its token; the others adopt the new token at their own (jittered) early refresh.

A cache that fails never fails a caller: the backend sits behind a circuit breaker
(:class:`~tokenrack.cache.guard.GuardedCache`), and the layer then fetches without it (still
single-flight within the process). How a profile's ``cache`` option becomes one of these is
:mod:`tokenrack.core.cache_wiring`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

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

__all__ = ["Fetch", "SharedRefresh"]

logger = get_logger(__name__)

_POLL_FIRST = 0.005
_POLL_MAX = 0.05
_TAKEOVER = ":takeover"
_PEEK_INTERVAL = 1.0
"""Seconds between two looks at the shared cache while the store backs off a failure."""
"""Suffix of the second lock of a key, taken by one waiter once the first one's lease passed."""


class Fetch(Protocol):
    """Fetches a token from the endpoint, its deadline counted from ``started_at``."""

    def __call__(self, reason: str, *, started_at: float | None = None) -> FetchResult:
        """The token (``started_at``: monotonic time the caller's deadline started)."""
        ...


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
        lease: Seconds a lock lasts: after it, one waiter takes the refresh over.
        deadline: Seconds a whole call may take, lock wait and fetch together (the
            profile's ``deadline``); None: waits end at the lease.
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
        fetch: Fetch,
        windows: RefreshWindows,
        slot: Slot,
        clock: Clock,
        lease: float,
        deadline: float | None = None,
        cipher: Callable[[], RecordCipher | None] = lambda: None,
        plaintext: bool = False,
    ) -> None:
        self.key = key
        self.profile = profile
        self.cache = cache
        self.lease = lease
        self.deadline = deadline
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
        self._next_peek = 0.0
        slot.peek = self.peek

    def __repr__(self) -> str:
        return f"SharedRefresh(profile={self.profile!r}, cache={self.cache.describe()!r})"

    # -- the refresh ---------------------------------------------------------------------

    def __call__(self, reason: str) -> CachedToken:
        """Obtain a token for the TokenStore: adopt another process's, or fetch under lock.

        The profile's ``deadline`` covers the whole call: the wait for another process's
        refresh and this process's own fetch share it.

        Raises:
            TokenError: The fetch failed (cache failures are never raised).
            SecretError: The profile's ``encryption_key`` cannot be read.
        """
        started = time.monotonic()
        forced = reason == "forced"
        # One unusable record is logged once per call, not at every look at it.
        seen: set[bytes] = set()
        if self._usable() and not forced:
            adopted = self._adopt(seen)
            if adopted is not None:
                return adopted
        lock: CacheLock | CachedToken = LOCAL_LOCK
        if self._usable():
            lock = self._wait_for_lock(forced=forced, started=started, seen=seen)
        if isinstance(lock, CachedToken):
            return lock
        try:
            if lock is not LOCAL_LOCK and not forced:
                # Whoever held the lock before us may have stored a token just now.
                adopted = self._adopt(seen)
                if adopted is not None:
                    return adopted
            # The fetch's deadline started when this call did (the lock wait counts).
            waited = time.monotonic() - started
            result = self._fetch(reason, started_at=self._clock.monotonic() - waited)
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

    def peek(self) -> CachedToken | None:
        """Another process's token from the shared cache, without fetching or locking.

        For the token store during a failure backoff, when this process has nothing valid
        to serve: a token another process stored since is used instead of repeating the
        failure. At most one look per :data:`_PEEK_INTERVAL` seconds; cache failures are
        a miss.
        """
        now = time.monotonic()
        if now < self._next_peek or not self._usable():
            return None
        self._next_peek = now + _PEEK_INTERVAL
        try:
            return self._adopt()
        except Exception:  # a cache must never fail a caller
            return None

    def _patience(self, started: float) -> float:
        """Seconds (from ``started``) this call waits for another process before fetching.

        The time left of the deadline, and while this process still holds a valid token (the
        mandatory window) half the time that token has left: its callers are waiting, and a
        stuck holder must not make them wait until it expires.
        """
        patience = self.deadline if self.deadline is not None else self.lease
        entry = self._slot.entry
        if entry is not None:
            now = self._clock.monotonic()
            if entry.state(now) == "mandatory":
                patience = min(patience, (entry.expires_at - now) / 2)
        return max(0.0, patience - (time.monotonic() - started))

    def _wait_for_lock(
        self, *, forced: bool, started: float, seen: set[bytes]
    ) -> CacheLock | CachedToken:
        """The lock, a token another process stored meanwhile, or LOCAL_LOCK when out of time.

        Until the lease has passed, waits for the key's lock. After it, the holder is stale
        (stuck, or its refresh is slower than the lease): waiters then compete for a second
        lock, the takeover lock, so that one of them (not all) fetches, and the others wait
        for the record it stores. A caller whose patience runs out fetches on its own.
        """
        # Leases run on the backend's real clock (Redis PX, a process's life), so waiting
        # for one is measured in real time, whatever clock the windows use.
        now = time.monotonic()
        give_up_at = now + self._patience(started)
        stale_at = min(now + self.lease, give_up_at)
        takeover = self.key + _TAKEOVER
        delay = _POLL_FIRST
        while True:
            now = time.monotonic()
            if now < stale_at:
                lock = self.cache.try_lock(self.key, lease=self.lease)
            else:
                lock = self.cache.try_lock(takeover, lease=self.lease)
                if lock is not None and lock is not LOCAL_LOCK:
                    logger.warning(
                        "token cache %s: another process held the refresh lock for %s for "
                        "%.1fs; taking the refresh over",
                        self.cache.describe(),
                        self.profile,
                        now - started,
                    )
            if lock is not None:
                return lock
            if not forced:
                adopted = self._adopt(seen)
                if adopted is not None:
                    return adopted
            if time.monotonic() >= give_up_at:
                logger.warning(
                    "token cache %s: another process held the refresh lock for %s for "
                    "%.1fs; fetching here",
                    self.cache.describe(),
                    self.profile,
                    time.monotonic() - started,
                )
                return LOCAL_LOCK
            time.sleep(min(delay, max(0.0, give_up_at - time.monotonic())))
            delay = min(delay * 2, _POLL_MAX)

    def _adopt(self, seen: set[bytes] | None = None) -> CachedToken | None:
        """A usable token another process stored, placed in this process's windows.

        ``seen`` holds digests of the records this call already looked at (each is logged
        once per call).
        """
        data = self.cache.get(self.key)
        if data is None:
            return None
        # A digest, not the record: ``seen`` lives in a frame a fetch error's traceback holds.
        digest = hashlib.sha256(data).digest()
        first_look = seen is None or digest not in seen
        if seen is not None:
            seen.add(digest)
        log = logger.warning if first_look else logger.debug
        now_wall = self._clock.time()
        try:
            stored = decode_record(data, key=self.key, now=now_wall, cipher=self._cipher_or_none())
            if self._plaintext and _unsafe_extra(stored.token.extra):
                raise RecordError(
                    "an unencrypted record whose extra holds a URL or a nested value "
                    "(not trusted from a plaintext cache)"
                )
        except RecordError as error:
            log(
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
            (logger.info if first_look else logger.debug)(
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

    def check(self) -> None:
        """Read now what this layer will need (``tokenrack check``), raising what fails.

        Makes the record cipher (the ``encryption_key`` and the cryptography package), builds
        the backend (its package and its secrets, e.g. a Redis ``password``) and reads this
        key's record once (the cache answers). Nothing is written.

        Raises:
            CacheError: The backend cannot be built or does not answer, or encryption is
                unavailable.
            SecretError: The ``encryption_key`` cannot be read.
        """
        self._make_cipher()
        self.cache.backend().get(self.key)

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
