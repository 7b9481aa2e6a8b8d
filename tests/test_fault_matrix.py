"""The fault matrix: what callers see, and how many requests were made, for each failure.

Every row runs against the emulator on loopback. "cold" means nothing is cached; "warm"
means a token is cached and still valid (in its mandatory window, so a refresh is due).
Waits run on a fake clock, so the rows are quick and their backoff is inspectable; the rows
that cut a request off at its deadline run on the real one.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, canary_client, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    InvalidClientError,
    TokenEndpointUnavailableError,
    TokenResponseError,
    UnauthorizedClientError,
)
from tokenrack.oauth.response import MAX_LIFETIME
from tokenrack.testing import Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]
ATTEMPTS = 3


def http_date(offset: float) -> str:
    return format_datetime(datetime.fromtimestamp(time.time() + offset, UTC), usegmt=True)


# (row id, a factory for one failing answer, the server's requested wait in seconds or None)
STATUS_ROWS: list[tuple[str, Callable[[FakeClock], Fault], float | None]] = [
    ("500", lambda c: Fault.http(500), None),
    ("502", lambda c: Fault.http(502), None),
    ("503", lambda c: Fault.http(503), None),
    ("503-retry-after-seconds", lambda c: Fault.http(503, headers={"Retry-After": "2"}), 2.0),
    ("504", lambda c: Fault.http(504), None),
    ("429-retry-after", lambda c: Fault.http(429, headers={"Retry-After": "3"}), 3.0),
    (
        "429-x-rate-limit-reset",
        lambda c: Fault.http(429, headers={"X-Rate-Limit-Reset": str(int(c.time()) + 4)}),
        4.0,  # an instant 4 s after the fake clock's (whole-second) start
    ),
]


def registry_for(
    make_registry: MakeRegistry, emulator: TokenEmulator, clock: FakeClock, **extra: Any
) -> Registry:
    options = {"retries": {"attempts": ATTEMPTS, "backoff": 0.5, "max_backoff": 8}, **extra}
    return make_registry({"p": profile(emulator, **options)}, clock=clock)


def warm(registry: Registry, emulator: TokenEmulator, clock: FakeClock) -> str:
    """Cache a token and move into its mandatory window (valid, refresh due)."""
    token = registry.get_token("p").access_token
    clock.advance(3585)  # must_refresh_at is 30 s before expiry; 15 s of life remain
    emulator.reset()
    return token


@pytest.mark.parametrize(("row", "fault", "wait"), STATUS_ROWS, ids=[r[0] for r in STATUS_ROWS])
def test_cold_cache_gets_unavailable_after_the_budget(
    row: str,
    fault: Callable[[FakeClock], Fault],
    wait: float | None,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(*[fault(clock) for _ in range(ATTEMPTS)])
    registry = registry_for(make_registry, emulator, clock)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("p")
    status = int(row.split("-")[0])
    assert (caught.value.last_status, caught.value.attempts) == (status, ATTEMPTS)
    assert emulator.request_count == ATTEMPTS
    assert len(clock.slept) == ATTEMPTS - 1 and all(0 <= s <= 8 for s in clock.slept)
    if wait is not None:
        # Retry-After repeats a relative wait on every answer, so every wait honours it;
        # X-Rate-Limit-Reset names one instant, which the first wait reaches exactly.
        assert clock.slept[0] == pytest.approx(wait) or clock.slept[0] > wait
        if "retry-after" in row:
            assert all(s >= wait for s in clock.slept)


@pytest.mark.parametrize(("row", "fault", "wait"), STATUS_ROWS, ids=[r[0] for r in STATUS_ROWS])
def test_cold_cache_recovers_when_the_server_does(
    row: str,
    fault: Callable[[FakeClock], Fault],
    wait: float | None,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(fault(clock))
    registry = registry_for(make_registry, emulator, clock)
    assert registry.get_token("p").access_token in emulator.issued_tokens
    assert emulator.request_count == 2


@pytest.mark.parametrize(("row", "fault", "wait"), STATUS_ROWS, ids=[r[0] for r in STATUS_ROWS])
def test_warm_cache_keeps_serving_during_the_outage(
    row: str,
    fault: Callable[[FakeClock], Fault],
    wait: float | None,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    registry = registry_for(make_registry, emulator, clock)
    cached = warm(registry, emulator, clock)
    emulator.fail_next(*[fault(clock) for _ in range(ATTEMPTS)])
    assert registry.get_token("p").access_token == cached  # served, not raised
    assert emulator.request_count == ATTEMPTS
    assert registry.get_token("p").access_token == cached  # the next try waits a backoff
    assert emulator.request_count == ATTEMPTS


def test_retry_after_as_an_http_date(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    clock = _true_clock()  # a fake clock set to the real time, so the date means something
    emulator.fail_next(Fault.http(503, headers={"Retry-After": http_date(5)}))
    registry = make_registry(
        {"p": profile(emulator, retries={"attempts": 2, "backoff": 0, "max_backoff": 8})},
        clock=clock,
    )
    registry.get_token("p")
    assert emulator.request_count == 2
    (slept,) = clock.slept
    assert 4.0 <= slept <= 5.0  # the date has one-second resolution


# -- connections ---------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_cold_raises_unavailable(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    data = profile(emulator, retries={"attempts": ATTEMPTS, "backoff": 0.1})
    data["token_url"] = f"http://127.0.0.1:{closed_port()}/oauth/token"
    registry = make_registry({"p": data}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("p")
    assert caught.value.attempts == ATTEMPTS and caught.value.last_status is None


def test_connection_refused_warm_serves_the_cached_token(
    make_registry: MakeRegistry, clock: FakeClock
) -> None:
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as server:
        registry = registry_for(make_registry, server, clock)
        cached = warm(registry, server, clock)
        port = server.port
    # The server has stopped: its port now refuses every connection.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert registry.get_token("p").access_token == cached  # served, not raised
    assert len(clock.slept) == ATTEMPTS - 1  # the refresh was tried, with backoff between


@pytest.mark.parametrize(
    ("faults", "requests"),
    [([Fault.reset()], 2), ([Fault.reset(), Fault.reset()], 3), ([Fault.hang(30)], 2)],
    ids=["reset-once", "reset-twice", "accepts-never-answers"],
)
def test_resets_and_silence_are_retried_within_timeouts(
    faults: list[Fault],
    requests: int,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(*faults)
    registry = registry_for(make_registry, emulator, clock, timeout={"connect": 1, "read": 0.3})
    assert registry.get_token("p").access_token in emulator.issued_tokens
    assert emulator.request_count == requests


def test_silence_on_every_attempt_warm_serves_cold_raises(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = registry_for(make_registry, emulator, clock, timeout={"connect": 1, "read": 0.2})
    cached = warm(registry, emulator, clock)
    emulator.fail_next(*[Fault.hang(30)] * ATTEMPTS)
    assert registry.get_token("p").access_token == cached
    clock.advance(60)  # now expired
    emulator.fail_next(*[Fault.hang(30)] * ATTEMPTS)
    with pytest.raises(TokenEndpointUnavailableError, match="timed out"):
        registry.get_token("p")


# -- answers that are not tokens -----------------------------------------------------------

MALFORMED = [
    (
        "html",
        Fault.raw(b"<html><body>Sign in</body></html>", content_type="text/html"),
        "neither JSON nor form",
    ),
    ("empty", Fault.raw(b""), "empty answer"),
    ("truncated-json", Fault.raw(b'{"access_token": "abc", "expires_in": 36'), "not valid JSON"),
    ("json-array", Fault.raw(b'["abc"]'), "not a JSON object"),
    ("no-access-token", Fault.raw(b'{"token_type": "Bearer"}'), "no access_token"),
    ("access-token-not-string", Fault.raw(b'{"access_token": 42}'), "no access_token"),
    (
        "expires-in-negative",
        Fault.raw(b'{"access_token": "abc", "expires_in": -5}'),
        "expired on arrival",
    ),
    (
        "expires-in-zero",
        Fault.raw(b'{"access_token": "abc", "expires_in": 0}'),
        "expired on arrival",
    ),
    (
        "expires-in-not-supported",
        Fault.raw(b'{"access_token": "abc", "expires_in": "not_supported"}'),
        "not a number",
    ),
]


@pytest.mark.parametrize(("row", "fault", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_answers_cold_raise_once_warm_serve(
    row: str,
    fault: Fault,
    reason: str,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(fault)
    registry = registry_for(make_registry, emulator, clock)
    with pytest.raises(TokenResponseError, match=reason):
        registry.get_token("p")
    assert emulator.request_count == 1  # a malformed answer is not retried
    with pytest.raises(TokenResponseError, match=reason):
        registry.get_token("p")  # during the failure backoff: repeated, not asked again
    assert emulator.request_count == 1
    clock.advance(1.0)  # the first backoff step has passed
    cached = warm(registry, emulator, clock)
    emulator.fail_next(fault)
    assert registry.get_token("p").access_token == cached
    assert emulator.request_count == 1


ACCEPTED_EXPIRIES = [
    ("huge", 10**12, MAX_LIFETIME),
    ("string-3600", "3600", 3600.0),
    ("float-3600.5", 3600.5, 3600.5),
    ("null", None, 777.0),  # the profile's default_ttl below
]


@pytest.mark.parametrize(
    ("row", "expires_in", "lifetime"), ACCEPTED_EXPIRIES, ids=[a[0] for a in ACCEPTED_EXPIRIES]
)
def test_odd_but_usable_expiries(
    row: str,
    expires_in: Any,
    lifetime: float,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(
        Fault.raw(json.dumps({"access_token": "abc", "expires_in": expires_in}).encode())
    )
    registry = registry_for(make_registry, emulator, clock, default_ttl=777)
    token = registry.get_token("p")
    assert token.expires_at == pytest.approx(clock.time() + lifetime)


def test_a_2_gib_answer_is_cut_at_1_mib(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(Fault.huge(2 * 1024**3))
    registry = registry_for(make_registry, emulator, clock)
    with pytest.raises(TokenResponseError, match="larger than 1024 KiB; connection closed"):
        registry.get_token("p")
    assert emulator.request_count == 1
    # The client closed the connection: the server got nowhere near 2 GiB out.
    assert emulator.bytes_streamed < 64 * 1024 * 1024


def test_a_redirect_to_another_host_is_never_followed(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    with TokenEmulator([]) as elsewhere:
        emulator.fail_next(Fault.http(302, {}, headers={"Location": elsewhere.token_url}))
        registry = registry_for(make_registry, emulator, clock)
        with pytest.raises(TokenResponseError, match="never followed"):
            registry.get_token("p")
        assert elsewhere.request_count == 0 and emulator.request_count == 1


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cls"),
    [("invalid_client", InvalidClientError), ("unauthorized_client", UnauthorizedClientError)],
)
def test_client_refusals_are_not_retried(
    error: str,
    cls: type[Exception],
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(Fault.http(401 if error == "invalid_client" else 400, {"error": error}))
    registry = registry_for(make_registry, emulator, clock, auth_method="client_secret_basic")
    with pytest.raises(cls):
        registry.get_token("p")
    assert emulator.request_count == 1 and clock.slept == []


# -- clock skew ----------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [-600.0, 600.0], ids=["host-10-min-behind", "host-10-min-ahead"])
@pytest.mark.parametrize("shape", ["expires_in", "jwt-exp"])
def test_clock_skew_changes_neither_schedule_nor_what_is_served(
    skew: float, shape: str, make_registry: MakeRegistry
) -> None:
    """The host clock is off from the server's Date by ten minutes either way.

    ``expires_in`` is relative: nothing changes. An absolute JWT ``exp`` is read against
    this host's clock (a token is never believed to outlive its expiry by this host's
    clock, and a Date ten minutes off is not trusted), so its lifetime moves by the skew.
    """

    class SkewedClock(FakeClock):
        def __init__(self) -> None:
            super().__init__()
            self._wall = time.time() + skew

    schedules = []
    for clock in (SkewedClock(), _true_clock()):
        with TokenEmulator(
            [], expires_in=3600 if shape == "expires_in" else None, token_format="jwt"
        ) as emulator:
            from tests.conftest import canary_client

            emulator.add_client(canary_client())
            # The same jitter draw for both registries, so only the clock differs.
            registry = make_registry({"p": profile(emulator)}, clock=clock, rng=random.Random(7))
            token = registry.get_token("p")
            entry = registry.cached("p")
            assert entry is not None and entry.state(clock.monotonic()) == "fresh"
            schedules.append(
                (
                    entry.expires_at - clock.monotonic(),
                    entry.refresh_at - clock.monotonic(),
                    token.expires_at - clock.time(),
                )
            )
    skewed, true = schedules
    shift = -skew if shape == "jwt-exp" else 0.0
    assert skewed[0] == pytest.approx(true[0] + shift, abs=2.0)  # exp has 1-s resolution
    assert skewed[2] == pytest.approx(true[2] + shift, abs=2.0)
    if shape == "expires_in":
        assert skewed[1] == pytest.approx(true[1], abs=2.0)
    assert true[0] == pytest.approx(3600, abs=2.0)


def _true_clock() -> FakeClock:
    clock = FakeClock()
    clock._wall = time.time()
    return clock


# -- the deadline --------------------------------------------------------------------------
# A fetch's `deadline` bounds everything: attempts, waits, and each request however slowly
# its answer comes. The in-flight rows run on the real clock (the deadline is real time
# there); the backoff rows on the fake one, whose sleeps are recorded.

TOKEN_BODY = json.dumps(
    {"access_token": f"{TOKEN_MARK}-slow-but-whole", "token_type": "Bearer", "expires_in": 3600}
).encode()
SLOW_BODY = b'{"padding": "' + b"x" * 120 + b'"}'  # 20 s or more at a byte per 0.2 s
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"


def threads_left(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` that still run, the emulator's handlers aside."""
    return [
        t.name
        for t in threading.enumerate()
        if t not in before and "process_request_thread" not in t.name
    ]


# (row id, the fault, how many bytes it would stream in full; None when it streams nothing)
IN_FLIGHT_ROWS: list[tuple[str, Fault, int | None]] = [
    ("body-dribbled", Fault.dribble(SLOW_BODY, every=0.2), len(SLOW_BODY)),
    ("headers-dribbled", Fault.dribble_headers(b'{"late": true}\n', every=0.2), len(HEAD)),
    ("accepts-never-answers", Fault.hang(30), None),
]


@pytest.mark.parametrize(
    ("row", "fault", "full"), IN_FLIGHT_ROWS, ids=[r[0] for r in IN_FLIGHT_ROWS]
)
def test_a_request_in_flight_is_cut_off_at_the_deadline(
    row: str, fault: Fault, full: int | None, emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    """Every read returns within the read timeout (or none is due yet); the deadline ends it."""
    emulator.fail_next(fault)
    registry = make_registry(
        {
            "p": profile(
                emulator,
                deadline=1,
                timeout={"connect": 5, "read": 20},
                retries={"attempts": 4, "backoff": 0},
            )
        }
    )
    before = set(threading.enumerate())
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("p")
    error = caught.value
    assert "deadline of 1s exceeded: no complete answer" in str(error)
    assert "connection closed" in str(error)
    assert (error.deadline, error.attempts, error.last_status) == (1.0, 1, None)
    assert emulator.request_count == 1  # cut off, not retried
    if full is not None:
        assert 0 < emulator.bytes_streamed < full  # the server was left mid-answer
    assert threads_left(before) == []  # the watchdog is gone with the call


@pytest.mark.parametrize(
    "fault",
    [Fault.dribble(TOKEN_BODY, every=0.005), Fault.dribble_headers(TOKEN_BODY, every=0.005)],
    ids=["body-dribbled", "headers-dribbled"],
)
def test_a_slow_answer_inside_the_deadline_is_a_token(
    fault: Fault, emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(fault)
    registry = make_registry({"p": profile(emulator, deadline=20, timeout={"read": 5})})
    before = set(threading.enumerate())
    token = registry.get_token("p")
    assert token.access_token == f"{TOKEN_MARK}-slow-but-whole"
    assert emulator.request_count == 1
    assert threads_left(before) == []


def test_timeouts_retried_until_the_deadline_on_the_real_clock(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    """Each attempt times out quickly; the deadline, not the attempt budget, ends the fetch."""
    emulator.fail_next(*[Fault.hang(30)] * 20)
    registry = make_registry(
        {
            "p": profile(
                emulator,
                deadline=1.5,
                timeout={"connect": 1, "read": 0.3},
                retries={"attempts": 20, "backoff": 0},
            )
        }
    )
    before = set(threading.enumerate())
    with pytest.raises(TokenEndpointUnavailableError, match=r"deadline of 1\.5s exceeded") as c:
        registry.get_token("p")
    assert 1 < c.value.attempts < 20 and c.value.deadline == 1.5
    assert emulator.request_count == c.value.attempts
    assert threads_left(before) == []


@pytest.mark.parametrize("status", [503, 429])
def test_a_wait_past_the_deadline_is_not_begun(
    status: int, emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[Fault.http(status, headers={"Retry-After": "60"})] * ATTEMPTS)
    registry = registry_for(
        make_registry,
        emulator,
        clock,
        deadline=10,
        retries={"attempts": ATTEMPTS, "backoff": 0.5, "max_backoff": 120},
    )
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("p")
    error = caught.value
    assert str(error).endswith(
        f"unavailable after 1 attempt: deadline of 10s exceeded: HTTP {status}, and another "
        "attempt could not start before it (a wait of 60.0s, 10.0s left)"
    )
    assert (error.attempts, error.last_status, error.deadline) == (1, status, 10.0)
    assert emulator.request_count == 1 and clock.slept == []  # stopped instead of sleeping


def test_waits_add_up_to_no_more_than_the_deadline(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[Fault.http(503, headers={"Retry-After": "4"})] * 10)
    registry = registry_for(
        make_registry, emulator, clock, deadline=10, retries={"attempts": 10, "max_backoff": 8}
    )
    with pytest.raises(TokenEndpointUnavailableError, match="deadline of 10s exceeded: HTTP 503"):
        registry.get_token("p")
    assert clock.slept == [4.0, 4.0]  # a third wait would have ended at 12 s
    assert emulator.request_count == 3


def test_a_deadline_long_enough_changes_nothing(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(Fault.http(503, headers={"Retry-After": "60"}))
    registry = registry_for(
        make_registry,
        emulator,
        clock,
        deadline=90,
        retries={"attempts": ATTEMPTS, "backoff": 0.5, "max_backoff": 120},
    )
    assert registry.get_token("p").access_token in emulator.issued_tokens
    assert clock.slept == [60.0] and emulator.request_count == 2


def test_the_default_deadline_bounds_a_fetch_nobody_configured(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    """Without `deadline`, 30 s: a fourth 8 s wait would end past it, so it is not begun."""
    emulator.fail_next(*[Fault.http(503, headers={"Retry-After": "8"})] * 20)
    registry = registry_for(make_registry, emulator, clock, retries={"attempts": 20})
    with pytest.raises(TokenEndpointUnavailableError, match="deadline of 30s exceeded") as c:
        registry.get_token("p")
    assert clock.slept == [8.0, 8.0, 8.0] and c.value.attempts == emulator.request_count == 4


def test_metadata_discovery_keeps_its_own_deadline(make_registry: MakeRegistry) -> None:
    """An issuer whose server accepts the connection and never says a word."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads
        issuer = f"http://127.0.0.1:{silent.getsockname()[1]}"
        registry = make_registry(
            {
                "p": {
                    "provider": "generic",
                    "issuer": issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": SECRET,
                    "deadline": 1,
                    "timeout": {"connect": 5, "read": 20},
                }
            }
        )
        before = set(threading.enumerate())
        with pytest.raises(TokenEndpointUnavailableError) as caught:
            registry.get_token("p")
    error = caught.value
    assert str(error).startswith(f"profile 'p': token endpoint {issuer}/.well-known/")
    assert "deadline of 1s exceeded: no complete answer" in str(error)
    assert error.attempts == 1 and error.deadline == 1.0
    assert threads_left(before) == []
