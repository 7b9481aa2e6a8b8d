"""The shared layer: one token per fleet, behind the in-process cache.

The in-process :class:`~tokenrack.core.store.TokenStore` stays in front of every backend and
decides *when* to refresh (its windows, its single-flight per process). When it does, it
calls a :class:`SharedRefresh` instead of fetching straight away, which:

1. reads the shared record and adopts it if another process stored a usable token: stored
   under this key, not expired, neither the token this process holds nor the one it just
   saw rejected, and fresh or in its early window by this process's windows;
2. otherwise takes the cross-process lock for the key, polling until it is free or a
   usable token appears (bounded by the lease), reads again, and only then fetches and
   stores the token with a TTL of its remaining lifetime;
3. releases the lock.

So in the early window exactly one process of the fleet refreshes while every other keeps
serving its token; the others adopt the new token at their own (jittered) early refresh.

A cache that fails (:class:`~tokenrack.errors.CacheError`, or anything else a backend
raises) never fails a caller: :class:`GuardedCache` is a circuit breaker that logs one
warning per outage, fetches without the cache (still single-flight within the process)
and tries the cache again after a backoff, logging when it answers again.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenrack.cache.backend import CacheLock, TokenCache
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
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

__all__ = ["CacheSettings", "GuardedCache", "SharedRefresh", "cache_settings"]

logger = get_logger(__name__)

_OUTAGE_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
_POLL_FIRST = 0.005
_POLL_MAX = 0.05


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """A profile's ``cache`` option, normalised.

    Attributes:
        backend: The backend's name (``memory`` means no shared layer).
        options: The backend's own options (no secrets, no ``backend``).
        secrets: The backend's secret options, still unresolved.
        encryption_key: The ``encryption_key`` secret, still unresolved, if any.
        lock_lease: The configured lease in seconds, if any.
    """

    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Secret | SecretRef] = field(default_factory=dict)
    encryption_key: Secret | SecretRef | None = None
    lock_lease: float | None = None

    @property
    def shared(self) -> bool:
        """Whether a shared backend sits behind the in-process cache."""
        return self.backend != "memory"

    def identity(self) -> str:
        """What makes two profiles use the same backend instance (and circuit breaker)."""
        secret_ids = {
            k: (repr(v) if isinstance(v, SecretRef) else f"inline-{id(v)}")
            for k, v in sorted(self.secrets.items())
        }
        return json.dumps(
            [self.backend, dict(self.options), secret_ids], sort_keys=True, default=repr
        )


def cache_settings(option: Any, *, secret_options: frozenset[str] = frozenset()) -> CacheSettings:
    """Normalise a profile's ``cache`` value (``memory``, ``file``, or a mapping).

    Args:
        option: The value as loaded (validated by the schema).
        secret_options: The backend's secret option names.
    """
    if option is None:
        return CacheSettings("memory")
    if isinstance(option, str):
        return CacheSettings(option)
    options = dict(option)
    backend = str(options.pop("backend"))
    key = options.pop("encryption_key", None)
    lease = options.pop("lock_lease", None)
    secrets = {k: options.pop(k) for k in list(options) if k in secret_options}
    return CacheSettings(
        backend=backend,
        options=options,
        secrets=secrets,
        encryption_key=key,
        lock_lease=float(lease) if lease is not None else None,
    )


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
            return failed
        if self._down_since is not None:
            self._recovered()
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
            self._failures += 1
            wait = _OUTAGE_BACKOFF[min(self._failures, len(_OUTAGE_BACKOFF)) - 1]
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

    def _recovered(self) -> None:
        with self._lock:
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
        """Release a lock (a failure is left to the lease)."""
        if lock is not LOCAL_LOCK:
            self._call("unlock", lambda cache: lock.release(), None)

    def close(self) -> None:
        """Close the backend, if it was built."""
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as error:
                logger.debug("closing token cache %s: %s", self.name, type(error).__name__)


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
        try:
            stored = decode_record(data, key=self.key, cipher=self._cipher_or_none())
        except RecordError as error:
            logger.warning(
                "token cache %s: the record for %s is unusable (%s); treating it as a miss; "
                "it will be replaced",
                self.cache.describe(),
                self.profile,
                error,
            )
            return None
        now_wall = self._clock.time()
        if stored.expires_at <= now_wall:
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
        age = max(0.0, now_wall - stored.obtained_at)
        entry = self._windows.entry(stored.token, obtained_at=now - age, lifetime=stored.lifetime)
        # An early-window token is worth taking (callers get it at once, and one process
        # refreshes it); one in the mandatory window is not: refresh it now, under the lock.
        if entry.state(now) in ("fresh", "early"):
            logger.info(
                "token for profile %s read from token cache %s (expires in %.0fs)",
                self.profile,
                self.cache.describe(),
                stored.expires_at - now_wall,
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
