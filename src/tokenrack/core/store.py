"""The in-process token cache: refresh windows and single-flight, per cache key.

A cached token moves through four states, on the monotonic clock (botocore's advisory and
mandatory windows, google-auth's FRESH/STALE/INVALID):

``fresh``      served straight from the cache: one dict read, no lock.
``early``      still served at once; the first caller to notice starts one refresh in a
               background thread. If that refresh fails, the token keeps being served, the
               failure is logged, and the next try waits a backoff.
``mandatory``  callers wait for one refresh (single-flight: one request, every caller gets
               its result). If it fails while the token has not expired, the token is
               served and the failure logged; the next try waits a backoff.
``expired``    callers wait for one refresh; a failure is raised to every waiting caller.

After a failed refresh the key is not refreshed again until a backoff has passed (1, 2, 5,
10, then 30 s while the failures last; reset by a success). During it a still-valid token
is served; a caller with nothing valid to serve (a cold or expired key, or a forced call)
gets the failure again, without a request. A lasting failure therefore costs the token
endpoint one request per backoff step, however many callers there are.

Nothing here knows HTTP: a refresh is a callable that returns a :class:`CachedToken`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from tokenrack.core.refusal import Refused
from tokenrack.oauth.retry import FAILURE_BACKOFF
from tokenrack.token import Token
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger
from tokenrack.util.windows import early_margin, mandatory_margin

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio

__all__ = ["CachedToken", "RefreshWindows", "Slot", "TokenStore", "fresh_token"]

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RefreshWindows:
    """How early to refresh, as configured for a profile.

    Attributes:
        refresh_before: Seconds before expiry the early window opens; None means
            min(300 s, lifetime / 3). Never more than half the lifetime, so a short-lived
            token is not refreshed on every call.
        must_refresh_before: Seconds before expiry callers start waiting for a refresh;
            None means min(30 s, lifetime / 10). Never more than a quarter of the lifetime.
        jitter: This process's draw in [0, 1): the early window opens up to half its length
            later, so processes started together do not refresh together.
    """

    refresh_before: float | None = None
    must_refresh_before: float | None = None
    jitter: float = 0.0

    def entry(self, token: Token, *, obtained_at: float, lifetime: float) -> CachedToken:
        """Place a token just obtained on the monotonic clock.

        Args:
            token: The token.
            obtained_at: Monotonic time the request that got it was sent.
            lifetime: Its lifetime in seconds, counted from ``obtained_at``.
        """
        early = early_margin(lifetime, self.refresh_before)
        mandatory = mandatory_margin(lifetime, self.must_refresh_before, early)
        early -= self.jitter * (early - mandatory) / 2
        expires_at = obtained_at + lifetime
        return CachedToken(
            token=token,
            refresh_at=expires_at - early,
            must_refresh_at=expires_at - mandatory,
            expires_at=expires_at,
        )


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token and the monotonic times its windows open.

    Attributes:
        token: The token.
        refresh_at: Start of the early window.
        must_refresh_at: Start of the mandatory window.
        expires_at: Expiry.
    """

    token: Token
    refresh_at: float
    must_refresh_at: float
    expires_at: float

    def state(self, now: float) -> str:
        """``fresh``, ``early``, ``mandatory`` or ``expired`` at monotonic time ``now``."""
        if now < self.refresh_at:
            return "fresh"
        if now < self.must_refresh_at:
            return "early"
        if now < self.expires_at:
            return "mandatory"
        return "expired"


Refresh = Callable[[str], CachedToken]
"""Obtains a new token; called with the reason (``cold``, ``early``, ``expired``, …)."""

Hit = Callable[[], None]
"""Told each time a cached token is served without waiting (for statistics)."""


def _no_hit() -> None:
    return None


class _Flight:
    """One refresh in progress; threads wait on ``done``, coroutines on a future each."""

    __slots__ = ("_lock", "_waiters", "done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: CachedToken | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def future(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future ``loop`` can await until the flight lands; None if it already has."""
        with self._lock:
            if self.done.is_set():
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
            return waiter

    def land(self) -> None:
        """Wake every waiter, threads and coroutines alike (from whichever thread flew)."""
        with self._lock:
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a cancelled waiter stays cancelled
        waiter.set_result(None)


def fresh_token(entry: CachedToken | None, now: float) -> Token | None:
    """The cached token while it is fresh at monotonic time ``now``, else None.

    The hot path, written once: the registry calls it before anything else on every
    ``get_token``, and the store's own decision starts with it.
    """
    if entry is not None and now < entry.refresh_at:
        return entry.token
    return None


@dataclass(frozen=True, slots=True)
class _Wait:
    """A caller's part in a refresh: the flight to wait for, whether it flies it, and why."""

    flight: _Flight
    leader: bool
    reason: str


def _reason(slot: Slot, entry: CachedToken | None, now: float, force: bool) -> str:
    """Why a refresh is needed (logged and counted): forced, cold, expired or expiring."""
    if force:
        return "forced"
    if entry is None:
        return slot.next_reason
    return "expired" if now >= entry.expires_at else "expiring"


class Slot:
    """Everything known about one cache key; ``entry`` may be read without the lock."""

    __slots__ = (
        "entry",
        "failures",
        "flight",
        "last_error",
        "lock",
        "next_reason",
        "peek",
        "refused",
        "refused_until",
        "rejected",
        "retry_not_before",
    )

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entry: CachedToken | None = None
        # The token last dropped by invalidate(): a shared cache must not hand it back.
        self.rejected: Token | None = None
        self.flight: _Flight | None = None
        self.failures = 0
        self.retry_not_before = 0.0
        # The last refresh's failure: repeated, until retry_not_before, to callers that
        # have no valid token to fall back on.
        self.last_error: Exception | None = None
        # A look at a shared cache, without fetching (None: memory only): during a backoff,
        # another process may have stored a token since this one failed.
        self.peek: Callable[[], CachedToken | None] | None = None
        self.next_reason = "cold"
        # A refusal that asked for a cooldown (invalid_client …): repeated, not re-asked.
        self.refused: BaseException | None = None
        self.refused_until = 0.0


class TokenStore:
    """Tokens by cache key, each refreshed by one caller at a time.

    Args:
        clock: Where monotonic time comes from.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._slots: dict[str, Slot] = {}
        self._slots_lock = threading.Lock()

    def slot(self, key: str) -> Slot:
        """The state kept for ``key``, created on first use (a caller's hot path reads it)."""
        return self._slot(key)

    def _slot(self, key: str) -> Slot:
        slot = self._slots.get(key)
        if slot is None:
            with self._slots_lock:
                slot = self._slots.setdefault(key, Slot())
        return slot

    def _begin(
        self, slot: Slot, refresh: Refresh, force: bool, label: str, on_hit: Hit
    ) -> Token | _Wait:
        """Decide, without waiting: a token to serve now, or a flight to wait for.

        Raises:
            BaseException: A refusal still in its cooldown, repeated without a request.
        """
        # Read once: every decision below is about the same entry. A forced call serves
        # nothing cached, so it is decided as if nothing were.
        entry = None if force else slot.entry
        now = self._clock.monotonic()
        token = self._servable(slot, entry, refresh, now, label, force)
        if token is not None:
            on_hit()
            return token
        flight, leader = self._join(slot)
        return _Wait(flight, leader, _reason(slot, entry, now, force))

    def _servable(
        self,
        slot: Slot,
        entry: CachedToken | None,
        refresh: Refresh,
        now: float,
        label: str,
        force: bool = False,
    ) -> Token | None:
        """The cached token if it may be served without waiting, else None.

        Four cases: fresh; early (a background refresh is started); in the mandatory window
        while the last failure's backoff runs; and unexpired while a refusal's cooldown runs.

        Raises:
            BaseException: A refusal still in its cooldown, or the last failure while its
                backoff runs, and nothing valid to serve.
        """
        token = fresh_token(entry, now)
        if token is not None:
            return token
        if entry is not None:
            if now < entry.must_refresh_at:
                self._refresh_in_background(slot, refresh, label)
                return entry.token
            if now < entry.expires_at and now < slot.retry_not_before:
                return entry.token
        refused = slot.refused
        if refused is not None and now < slot.refused_until:
            if entry is not None and now < entry.expires_at:
                return entry.token
            # The same refusal again, without another request; a fresh traceback each
            # time, or the old one would grow with every caller.
            raise refused.with_traceback(None)
        failed = slot.last_error
        if failed is not None and now < slot.retry_not_before:
            adopted = None if force or slot.peek is None else slot.peek()
            if adopted is not None and now < adopted.expires_at:
                # Another process got a token since this one failed: the outage is over.
                slot.entry = adopted
                slot.failures = 0
                slot.retry_not_before = 0.0
                slot.last_error = None
                return adopted.token
            # Cold, expired or forced during a backoff: the last failure again, not a new
            # request (a lasting failure would otherwise be asked at the callers' rate).
            raise failed.with_traceback(None)
        return None

    def _outcome(self, slot: Slot, flight: _Flight, force: bool, label: str) -> Token:
        """What a caller gets once the flight it waited for has landed."""
        if flight.result is not None:
            return flight.result.token
        error = flight.error
        assert error is not None
        stale = slot.entry
        if stale is not None and not force and self._clock.monotonic() < stale.expires_at:
            logger.warning(
                "refresh for %s failed (%s); serving the cached token, valid for %.0fs more",
                label,
                error,
                stale.expires_at - self._clock.monotonic(),
            )
            return stale.token
        raise error

    def get(
        self,
        key: str,
        refresh: Refresh,
        *,
        force: bool = False,
        label: str = "",
        on_hit: Hit = _no_hit,
    ) -> Token:
        """A valid token for ``key``, refreshing as the windows say.

        Args:
            key: The cache key.
            refresh: Obtains a new token.
            force: Refresh now (joining a refresh already under way) and wait for it.
            label: What to call the key in log lines (the profile name).
            on_hit: Called when the cached token is served without waiting (statistics).

        Raises:
            Exception: Whatever ``refresh`` raised, when no valid token can be served.
        """
        slot = self._slot(key)
        step = self._begin(slot, refresh, force, label, on_hit)
        if not isinstance(step, _Wait):
            return step
        if step.leader:
            self._fly(slot, step.flight, refresh, step.reason, label)
        else:
            step.flight.done.wait()
        return self._outcome(slot, step.flight, force, label)

    async def aget(
        self,
        key: str,
        refresh: Refresh,
        *,
        force: bool = False,
        label: str = "",
        on_hit: Hit = _no_hit,
    ) -> Token:
        """:meth:`get` for coroutines: the same decisions, waiting without blocking the loop.

        The leader's refresh runs in a worker thread; every other caller, thread or
        coroutine, waits for that same flight.

        Raises:
            Exception: Whatever ``refresh`` raised, when no valid token can be served.
        """
        slot = self._slot(key)
        step = self._begin(slot, refresh, force, label, on_hit)
        if not isinstance(step, _Wait):
            return step
        import asyncio

        if step.leader:
            await asyncio.to_thread(self._fly, slot, step.flight, refresh, step.reason, label)
        else:
            waiter = step.flight.future(asyncio.get_running_loop())
            if waiter is not None:
                await waiter
        return self._outcome(slot, step.flight, force, label)

    def invalidate(
        self, key: str, *, token: Token | None = None, reason: str = "invalidated"
    ) -> bool:
        """Drop the cached token for ``key``, so the next caller fetches a new one.

        Args:
            key: The cache key.
            token: Drop only if this is still the cached token, so that many callers that
                saw the same token rejected cause one refresh, not one each.
            reason: The reason logged for the next fetch (e.g. ``401``).

        Returns:
            Whether a token was dropped.
        """
        slot = self._slot(key)
        with slot.lock:
            entry = slot.entry
            if entry is None:
                return False
            if token is not None and entry.token.access_token != token.access_token:
                return False
            slot.entry = None
            slot.rejected = entry.token
            slot.next_reason = reason
            slot.retry_not_before = 0.0
            return True

    def _join(self, slot: Slot) -> tuple[_Flight, bool]:
        with slot.lock:
            if slot.flight is not None:
                return slot.flight, False
            slot.flight = _Flight()
            return slot.flight, True

    def _refresh_in_background(self, slot: Slot, refresh: Refresh, label: str) -> None:
        if self._clock.monotonic() < slot.retry_not_before or slot.flight is not None:
            return
        flight, leader = self._join(slot)
        if not leader:
            return
        thread = threading.Thread(
            target=self._fly,
            args=(slot, flight, refresh, "early", label),
            name=f"tokenrack-refresh-{label}",
            daemon=True,
        )
        thread.start()

    def _fly(self, slot: Slot, flight: _Flight, refresh: Refresh, reason: str, label: str) -> None:
        """Run one refresh and hand its outcome to every waiter."""
        try:
            flight.result = refresh(reason)
        except BaseException as raised:
            # A refusal of the client comes as an explicit outcome carrying its cooldown.
            error, cooldown = (
                (raised.error, raised.cooldown) if isinstance(raised, Refused) else (raised, 0.0)
            )
            flight.error = error
            with slot.lock:
                slot.failures += 1
                wait = FAILURE_BACKOFF.after(slot.failures)
                slot.retry_not_before = self._clock.monotonic() + wait
                slot.last_error = error if isinstance(error, Exception) else None
                if cooldown > 0:
                    slot.refused = error
                    slot.refused_until = self._clock.monotonic() + cooldown
            if reason == "early":
                entry = slot.entry
                left = entry.expires_at - self._clock.monotonic() if entry else 0.0
                logger.warning(
                    "early refresh for %s failed (%s); still serving the cached token, "
                    "valid for %.0fs more; next try in %.0fs",
                    label,
                    error,
                    left,
                    wait,
                )
            if not isinstance(error, Exception):
                raise
        else:
            with slot.lock:
                slot.entry = flight.result
                slot.failures = 0
                slot.retry_not_before = 0.0
                slot.last_error = None
                slot.next_reason = "cold"
                slot.refused = None
        finally:
            with slot.lock:
                slot.flight = None
            flight.land()
