"""The token store: refresh windows, single-flight, stale-on-error (fake clock, no network)."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import FakeClock, wait_until
from tokenrack.core.refusal import Refused
from tokenrack.core.store import (
    CachedToken,
    RefreshWindows,
    Slot,
    TokenStore,
    _reason,
    _Wait,
    fresh_token,
)
from tokenrack.token import Token


class Source:
    """Counts refreshes and hands out numbered tokens; can be told to fail or block."""

    def __init__(self, clock: FakeClock, lifetime: float = 1000.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[str] = []
        self.fail: Exception | None = None
        self.release = threading.Event()
        self.release.set()
        self.windows = RefreshWindows()

    def __call__(self, reason: str) -> CachedToken:
        self.calls.append(reason)
        self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        token = Token(f"t{len(self.calls)}", "Bearer", self.clock.time() + self.lifetime)
        return self.windows.entry(token, obtained_at=self.clock.monotonic(), lifetime=self.lifetime)


@pytest.fixture
def store(clock: FakeClock) -> TokenStore:
    return TokenStore(clock)


def test_windows_defaults() -> None:
    entry = RefreshWindows().entry(Token("t", "Bearer", 0), obtained_at=0, lifetime=3600)
    assert (entry.refresh_at, entry.must_refresh_at, entry.expires_at) == (3300, 3570, 3600)
    short = RefreshWindows().entry(Token("t", "Bearer", 0), obtained_at=0, lifetime=2)
    assert short.refresh_at == pytest.approx(2 - 2 / 3)
    assert short.must_refresh_at == pytest.approx(1.8)


def test_configured_windows_are_clamped_for_short_tokens() -> None:
    windows = RefreshWindows(refresh_before=300, must_refresh_before=60)
    entry = windows.entry(Token("t", "Bearer", 0), obtained_at=0, lifetime=60)
    assert entry.refresh_at == 30  # at most half the lifetime
    assert entry.must_refresh_at == 45  # at most a quarter
    assert entry.state(29) == "fresh" and entry.state(31) == "early"
    assert entry.state(46) == "mandatory" and entry.state(60) == "expired"


def test_jitter_opens_the_early_window_later_but_never_past_the_mandatory_point() -> None:
    plain = RefreshWindows(jitter=0).entry(Token("t", "Bearer", 0), obtained_at=0, lifetime=3600)
    late = RefreshWindows(jitter=0.999).entry(Token("t", "Bearer", 0), obtained_at=0, lifetime=3600)
    assert plain.refresh_at < late.refresh_at < late.must_refresh_at
    assert late.refresh_at == pytest.approx(3300 + 0.999 * 270 / 2)


def test_fresh_token_served_without_refresh(store: TokenStore, clock: FakeClock) -> None:
    source = Source(clock)
    first = store.get("k", source)
    clock.advance(100)
    assert store.get("k", source) is first
    assert source.calls == ["cold"]


def test_early_window_refreshes_once_in_background_and_serves_cached(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    first = store.get("k", source)
    clock.advance(800)  # past refresh_at (1000 - 300), before must_refresh_at (1000 - 30)
    source.release.clear()  # the refresh will block until released
    served = [store.get("k", source) for _ in range(50)]
    assert all(token is first for token in served)  # nobody waited for the refresh
    wait_until(lambda: len(source.calls) == 2)
    assert source.calls == ["cold", "early"]  # 50 callers, one refresh
    source.release.set()
    wait_until(
        lambda: store.slot("k").entry is not None and store.slot("k").entry.token is not first
    )
    assert store.get("k", source).access_token == "t2"


def test_failed_early_refresh_keeps_serving_and_backs_off(
    store: TokenStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    source = Source(clock)
    first = store.get("k", source)
    clock.advance(800)
    source.fail = RuntimeError("endpoint down")
    assert store.get("k", source) is first
    wait_until(
        lambda: (
            len(source.calls) == 2
            and any("early refresh" in r.getMessage() for r in caplog.records)
        )
    )
    # Within the backoff, no new refresh starts.
    for _ in range(20):
        assert store.get("k", source) is first
    assert len(source.calls) == 2
    clock.advance(1.5)
    source.fail = None
    store.get("k", source)
    wait_until(lambda: store.slot("k").entry.token.access_token == "t3")


def test_mandatory_window_blocks_for_one_refresh(store: TokenStore, clock: FakeClock) -> None:
    source = Source(clock)
    store.get("k", source)
    clock.advance(980)  # past must_refresh_at
    assert store.get("k", source).access_token == "t2"
    assert source.calls == ["cold", "expiring"]


def test_mandatory_failure_serves_still_valid_token_then_raises_once_expired(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    first = store.get("k", source)
    clock.advance(980)
    source.fail = RuntimeError("down")
    assert store.get("k", source) is first  # still valid for 20 s: served, failure logged
    assert store.get("k", source) is first  # within backoff: no new attempt
    assert source.calls == ["cold", "expiring"]
    clock.advance(30)  # now expired
    with pytest.raises(RuntimeError, match="down"):
        store.get("k", source)
    assert source.calls[-1] == "expired"


def test_cold_stampede_makes_one_refresh_and_shares_the_result(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    source.release.clear()
    results: list[Token] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.get("k", source))) for _ in range(64)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(source.calls) == 1)
    source.release.set()
    for thread in threads:
        thread.join()
    assert source.calls == ["cold"]
    assert len({id(t) for t in results}) == 1 and len(results) == 64


def test_cold_failure_is_raised_to_every_waiter(store: TokenStore, clock: FakeClock) -> None:
    source = Source(clock)
    source.fail = ValueError("refused")
    source.release.clear()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            store.get("k", source)
        except ValueError as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(source.calls) == 1)
    source.release.set()
    for thread in threads:
        thread.join()
    assert len(errors) == 16 and source.calls == ["cold"]


def test_keys_are_independent(store: TokenStore, clock: FakeClock) -> None:
    slow, fast = Source(clock), Source(clock)
    slow.release.clear()
    blocked = threading.Thread(target=store.get, args=("slow", slow))
    blocked.start()
    wait_until(lambda: slow.calls == ["cold"])
    assert store.get("fast", fast).access_token == "t1"  # did not wait on the other key
    slow.release.set()
    blocked.join()


def test_force_refresh_and_invalidate(store: TokenStore, clock: FakeClock) -> None:
    source = Source(clock)
    first = store.get("k", source)
    assert store.get("k", source, force=True).access_token == "t2"
    assert source.calls == ["cold", "forced"]
    stale = Token("t1", "Bearer", 0)
    assert store.invalidate("k", token=stale) is False  # not the cached one any more
    assert store.invalidate("k", token=store.slot("k").entry.token, reason="401") is True
    assert store.get("k", source).access_token == "t3"
    assert source.calls[-1] == "401"
    assert first.access_token == "t1"


def entry_at(refresh_at: float, must: float, expires: float) -> CachedToken:
    return CachedToken(Token("t", "Bearer", 0), refresh_at, must, expires)


def test_fresh_token_only_before_the_early_window_opens() -> None:
    entry = entry_at(100.0, 150.0, 200.0)
    assert fresh_token(entry, 99.9) is entry.token
    assert fresh_token(entry, 100.0) is None
    assert fresh_token(None, 0.0) is None


def test_reason_says_why_a_refresh_is_needed() -> None:
    slot = Slot()
    entry = entry_at(100.0, 150.0, 200.0)
    assert _reason(slot, entry, 160.0, force=True) == "forced"
    assert _reason(slot, None, 160.0, force=False) == "cold"
    slot.next_reason = "401"
    assert _reason(slot, None, 160.0, force=False) == "401"
    assert _reason(slot, entry, 160.0, force=False) == "expiring"
    assert _reason(slot, entry, 200.0, force=False) == "expired"


def test_begin_gives_the_first_caller_the_flight_and_the_next_a_seat_on_it(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    slot = store.slot("k")
    hits: list[None] = []
    lead = store._begin(slot, source, False, "k", lambda: hits.append(None))
    join = store._begin(slot, source, False, "k", lambda: hits.append(None))
    assert isinstance(lead, _Wait) and isinstance(join, _Wait)
    assert (lead.leader, join.leader) == (True, False)
    assert join.flight is lead.flight
    assert lead.reason == "cold"
    assert hits == [] and source.calls == []  # deciding never refreshes


def test_begin_serves_a_fresh_token_and_counts_the_hit(store: TokenStore, clock: FakeClock) -> None:
    source = Source(clock)
    first = store.get("k", source)
    hits: list[None] = []
    assert store._begin(store.slot("k"), source, False, "k", lambda: hits.append(None)) is first
    assert hits == [None]


def test_a_refusal_in_its_cooldown_is_repeated_without_a_request_even_when_forced(
    store: TokenStore, clock: FakeClock
) -> None:
    class RefusedError(Exception):
        pass

    source = Source(clock)
    source.fail = Refused(RefusedError("invalid_client"), 60.0)
    with pytest.raises(RefusedError):
        store.get("k", source)
    with pytest.raises(RefusedError):
        store.get("k", source)
    with pytest.raises(RefusedError):
        store.get("k", source, force=True)
    assert source.calls == ["cold"]
    clock.advance(61)
    source.fail = None
    assert store.get("k", source).access_token == "t2"


def test_a_cold_failure_backs_off_1_2_5_10_30_s_and_a_success_resets_it(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    source.fail = RuntimeError("invalid_scope")
    for step in (1.0, 2.0, 5.0, 10.0, 30.0, 30.0):
        with pytest.raises(RuntimeError) as asked:
            store.get("k", source)
        made = len(source.calls)
        clock.advance(step - 0.5)
        with pytest.raises(RuntimeError) as repeated:
            store.get("k", source)  # within the step: the same error, no request
        assert repeated.value is asked.value
        assert len(source.calls) == made
        clock.advance(0.5)
    assert len(source.calls) == 6
    source.fail = None
    assert store.get("k", source).access_token == "t7"  # the backoff passed: one request
    assert store.invalidate("k")
    source.fail = RuntimeError("down again")
    with pytest.raises(RuntimeError):
        store.get("k", source)
    clock.advance(1.0)  # the success reset the schedule: 1 s, not 30 s
    with pytest.raises(RuntimeError):
        store.get("k", source)
    assert len(source.calls) == 9


def test_an_expired_token_during_the_backoff_gets_the_failure_without_a_request(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    first = store.get("k", source)
    clock.advance(999.5)  # mandatory window, valid half a second more
    source.fail = RuntimeError("down")
    assert store.get("k", source) is first
    clock.advance(0.7)  # expired; the backoff (1 s) still runs
    with pytest.raises(RuntimeError, match="down"):
        store.get("k", source)
    assert source.calls == ["cold", "expiring"]


def test_coroutines_get_the_failure_during_the_backoff_without_a_request(
    store: TokenStore, clock: FakeClock
) -> None:
    import asyncio

    source = Source(clock)
    source.fail = RuntimeError("invalid_scope")

    async def callers() -> list[BaseException | Token]:
        return await asyncio.gather(
            *(store.aget("k", source) for _ in range(50)), return_exceptions=True
        )

    first = asyncio.run(callers())
    again = asyncio.run(callers())
    assert all(isinstance(error, RuntimeError) for error in first + again)
    assert source.calls == ["cold"]


def test_a_failure_that_is_not_an_exception_is_not_repeated(
    store: TokenStore, clock: FakeClock
) -> None:
    source = Source(clock)
    source.fail = KeyboardInterrupt()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        store.get("k", source)
    source.fail = None
    assert store.get("k", source, force=True).access_token == "t2"
