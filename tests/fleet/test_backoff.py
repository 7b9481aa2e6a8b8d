"""Issue 16, defect 7: a lasting failure on a cold cache is not asked again at the callers' rate.

One process, 4 threads calling ``get_token`` in a loop, against an emulator that fails every
request. Before the fix each caller made its own request (36 requests/s from one process in
the reliability run); now the first failure starts the failure backoff (1, 2, 5, 10, then
30 s) and every caller gets that failure again, without a request, until it has passed.
The registry reads a FakeClock, so the backoff passes when the test says; the callers are
real threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import FakeClock, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    InvalidScopeError,
    TokenEndpointUnavailableError,
    TokenRequestError,
    TokenResponseError,
)
from tokenrack.testing import Fault, TokenEmulator
from tokenrack.token import Token

MakeRegistry = Callable[..., Registry]

THREADS = 4
LOOP_SECONDS = 0.5  # per phase; four phases make the ~2 s the reliability run measured
JOIN_TIMEOUT = 10.0

INVALID_SCOPE = Fault.http(
    400, {"error": "invalid_scope", "error_description": "scope admin is not allowed"}
)
FORBIDDEN = Fault.http(403, {"error": "access_denied", "error_description": "blocked by policy"})
HTML = Fault.raw(b"<html><body>Sign in</body></html>", content_type="text/html")


@dataclass
class Outcomes:
    """What the callers of one phase got."""

    tokens: list[Token] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def hammer(registry: Registry, name: str, seconds: float = LOOP_SECONDS) -> Outcomes:
    """``THREADS`` threads calling ``get_token(name)`` back to back for ``seconds``."""
    outcomes = Outcomes()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def call() -> None:
        while time.monotonic() < stop:
            try:
                token = registry.get_token(name)
            except Exception as error:
                with lock:
                    outcomes.errors.append(error)
            else:
                with lock:
                    outcomes.tokens.append(token)

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def same_failure(outcomes: Outcomes, cls: type[Exception], *server_words: str) -> None:
    """Every caller got the server's failure: one class, one message, the server's words."""
    assert outcomes.errors and not outcomes.tokens
    first = outcomes.errors[0]
    assert type(first) is cls
    for word in server_words:
        assert word in str(first)
    assert all(type(e) is cls and str(e) == str(first) for e in outcomes.errors)


@pytest.mark.parametrize(
    ("fault", "cls", "words"),
    [
        (INVALID_SCOPE, InvalidScopeError, ("invalid_scope", "scope admin is not allowed")),
        (FORBIDDEN, TokenRequestError, ("access_denied", "HTTP 403")),
        (HTML, TokenResponseError, ("text/html",)),
        (None, TokenResponseError, ("expired on arrival",)),
    ],
    ids=["400-invalid_scope", "403", "200-html", "expired-on-arrival"],
)
def test_a_lasting_failure_costs_one_request_per_backoff_step(
    fault: Fault | None,
    cls: type[Exception],
    words: tuple[str, ...],
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    if fault is None:
        emulator.expires_in = 0  # every answer a token that is already expired
    else:
        emulator.fail_next(*[fault] * 10_000)
    registry = make_registry({"a": profile(emulator)}, clock=clock)

    same_failure(hammer(registry, "a"), cls, *words)
    assert emulator.request_count == 1  # main: hundreds (36 requests/s in the review)

    clock.advance(1.5)  # past the first step (1 s): one more request, then 2 s
    same_failure(hammer(registry, "a"), cls, *words)
    assert emulator.request_count == 2

    clock.advance(1.5)  # not yet past the second step
    same_failure(hammer(registry, "a"), cls, *words)
    assert emulator.request_count == 2

    # The server recovers; once the backoff has passed, one fetch and tokens flow.
    emulator.reset()
    emulator.expires_in = 3600
    clock.advance(1.0)
    recovered = hammer(registry, "a")
    assert recovered.tokens and not recovered.errors
    assert emulator.request_count == 1
    assert {t.access_token for t in recovered.tokens} == set(emulator.issued_tokens)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(503, headers={"Retry-After": "0"}),
        Fault.http(429, {"error": "rate_limited"}, headers={"Retry-After": "1"}),
    ],
    ids=["503", "429-retry-after"],
)
def test_a_transient_failure_after_its_retries_is_not_asked_again_by_every_caller(
    fault: Fault, emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[fault] * 10_000)
    retries = {"attempts": 2, "backoff": 0.01, "max_backoff": 1.0}
    registry = make_registry({"a": profile(emulator, retries=retries)}, clock=clock)
    same_failure(hammer(registry, "a"), TokenEndpointUnavailableError, "after 2 attempts")
    assert emulator.request_count == 2  # one fetch, its two attempts; main: hundreds


def test_a_valid_token_is_served_during_the_backoff_and_the_failure_once_it_expires(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    cached = registry.get_token("a")
    emulator.fail_next(*[INVALID_SCOPE] * 10_000)
    clock.advance(3599.5)  # mandatory window, valid half a second more: a refresh is due

    served = hammer(registry, "a")
    assert not served.errors and {t.access_token for t in served.tokens} == {cached.access_token}
    assert emulator.request_count == 2  # the first token, one failed refresh

    clock.advance(0.7)  # expired, the backoff (1 s) still running: the failure, no request
    failing = hammer(registry, "a")
    same_failure(failing, InvalidScopeError, "invalid_scope")
    assert emulator.request_count == 2  # main: one request per call once expired


def test_force_refresh_during_the_backoff_repeats_the_failure(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[INVALID_SCOPE] * 3)
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    with pytest.raises(InvalidScopeError) as first:
        registry.get_token("a")
    with pytest.raises(InvalidScopeError) as again:
        registry.get_token("a", force_refresh=True)
    assert again.value is first.value
    assert emulator.request_count == 1
    clock.advance(1.5)
    with pytest.raises(InvalidScopeError):
        registry.get_token("a", force_refresh=True)  # after the backoff, forcing asks
    assert emulator.request_count == 2


def test_the_backoff_is_per_cache_key(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(INVALID_SCOPE)
    registry = make_registry(
        {"bad": profile(emulator, scopes=["admin"]), "good": profile(emulator, scopes=["read"])},
        clock=clock,
    )
    with pytest.raises(InvalidScopeError):
        registry.get_token("bad")
    assert registry.get_token("good").access_token in emulator.issued_tokens
    with pytest.raises(InvalidScopeError):
        registry.get_token("bad")
    assert emulator.request_count == 2


def test_a_process_in_its_backoff_uses_the_token_another_process_stored(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    """The backoff does not outlast the outage for a fleet: a process repeating its failure
    looks at the shared cache (at most once a second) and takes the token another process
    stored after the endpoint recovered, without a request of its own."""
    shared = {"cache": {"backend": "file", "path": str(tmp_path / "cache")}}
    emulator.fail_next(Fault.http(503, {"error": "temporarily_unavailable"}))
    first = make_registry({"svc": profile(emulator, retries={"attempts": 1}, **shared)})
    with pytest.raises(TokenEndpointUnavailableError):
        first.get_token("svc")
    assert emulator.request_count == 1
    # The endpoint is back; another process (its own registry) fetches and stores.
    other = make_registry({"svc": profile(emulator, **shared)})
    stored = other.get_token("svc")
    assert emulator.request_count == 2
    # Still inside the first process's backoff (1 s; real clocks, as between processes the
    # wall clock is what records carry): it takes the stored token instead of repeating
    # the failure, and asks the endpoint nothing.
    assert first.get_token("svc").access_token == stored.access_token
    assert emulator.request_count == 2
