"""The sans-I/O fetch's deadline logic, driven step by step on a fake clock."""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from typing import Any

import pytest

from tests.conftest import FakeClock
from tokenrack.errors import TokenEndpointUnavailableError, TokenResponseError
from tokenrack.oauth.discovery import discovery_steps
from tokenrack.oauth.flow import (
    Attempts,
    FetchSettings,
    Send,
    Sleep,
    _classify,
    _start_deadline,
    drive,
    fetch_steps,
)
from tokenrack.oauth.message import EncodedRequest, HttpResponse, TokenRequest, TransportError
from tokenrack.oauth.retry import DEFAULT_DEADLINE, RetryPolicy
from tokenrack.oauth.transport import TransportOptions
from tokenrack.token import Token

URL = "https://idp.example/token"
TOKEN_BODY = json.dumps({"access_token": "t", "token_type": "Bearer", "expires_in": 60}).encode()


def settings(
    clock: FakeClock,
    *,
    deadline: float = 10.0,
    attempts: int = 4,
    started_at: float | None = None,
) -> FetchSettings:
    return FetchSettings(
        authenticate=lambda request: request,
        # No jitter (backoff 0), so every wait is what the server asked for.
        policy=RetryPolicy(attempts=attempts, backoff=0.0, max_backoff=120.0, deadline=deadline),
        clock=clock,
        rng=random.Random(1),
        allow_insecure_http=False,
        profile="p",
        started_at=started_at,
    )


def answer(status: int, *, retry_after: str | None = None, body: bytes = b"{}") -> HttpResponse:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return HttpResponse(status=status, headers=headers, body=body, url=URL, sent_at=0.0)


def token_flow(requests: int = 1) -> Generator[TokenRequest, HttpResponse, Token]:
    """A provider flow of ``requests`` round trips (a token after the last)."""
    for _ in range(requests):
        yield TokenRequest(url=URL)
    return Token(access_token="t", token_type="Bearer", expires_at=1e12)


def test_every_send_carries_the_time_left_and_waits_count_against_it() -> None:
    clock = FakeClock()
    steps = fetch_steps(token_flow(), settings(clock, deadline=10))
    first = next(steps)
    assert isinstance(first, Send) and first.time_left == 10.0
    clock.advance(1.5)  # the request took 1.5 s
    wait = steps.send(answer(503, retry_after="3"))
    assert wait == Sleep(3.0)
    clock.advance(3.0)
    second = steps.send(None)
    assert isinstance(second, Send) and second.time_left == pytest.approx(5.5)
    with pytest.raises(StopIteration) as done:
        steps.send(answer(200, body=TOKEN_BODY))
    assert done.value.value.attempts == 2


def test_a_wait_that_would_end_past_the_deadline_is_not_begun() -> None:
    clock = FakeClock()
    steps = fetch_steps(token_flow(), settings(clock, deadline=10))
    next(steps)
    clock.advance(2.0)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        steps.send(answer(503, retry_after="8"))  # 2 + 8 is not before 10
    error = caught.value
    assert error.reason == (
        "deadline of 10s exceeded: HTTP 503, and another attempt could not start before it "
        "(a wait of 8.0s, 8.0s left)"
    )
    assert (error.attempts, error.last_status, error.deadline) == (1, 503, 10.0)


def test_a_retryable_failure_with_no_time_left_stops_the_fetch() -> None:
    clock = FakeClock()
    steps = fetch_steps(token_flow(), settings(clock, deadline=2))
    next(steps)
    clock.advance(2.5)  # a read timeout that outlasted the deadline
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        steps.send(TransportError("timeout", "read timed out", retryable=True))
    assert caught.value.reason == (
        "deadline of 2s exceeded: read timed out, and another attempt could not start before "
        "it (a wait of 0.0s, 0.0s left)"
    )
    assert caught.value.last_status is None


def test_a_request_cut_off_by_the_transport_is_not_retried() -> None:
    clock = FakeClock()
    steps = fetch_steps(token_flow(), settings(clock, deadline=1, attempts=5))
    next(steps)
    cut = TransportError("deadline", "no complete answer in the 1s left", retryable=False)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        steps.send(cut)
    assert caught.value.reason == "deadline of 1s exceeded: no complete answer in the 1s left"
    assert (caught.value.attempts, caught.value.deadline) == (1, 1.0)


def test_the_deadline_spans_every_round_trip_of_a_flow() -> None:
    clock = FakeClock()
    steps = fetch_steps(token_flow(requests=2), settings(clock, deadline=5))
    next(steps)
    clock.advance(6.0)  # the first round trip's answer came late, but came
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        steps.send(answer(200))  # the provider's flow asks for a second request
    assert caught.value.reason == "deadline of 5s exceeded: no time left to send a request"
    assert caught.value.attempts == 1


def test_a_fetch_that_began_earlier_shares_its_budget() -> None:
    """A second auth method tried after a refusal gets what is left, not a fresh budget."""
    clock = FakeClock()
    started = clock.monotonic()
    clock.advance(7.0)
    steps = fetch_steps(token_flow(), settings(clock, deadline=10, started_at=started))
    first = next(steps)
    assert isinstance(first, Send) and first.time_left == pytest.approx(3.0)


def test_discovery_keeps_to_its_deadline() -> None:
    clock = FakeClock()
    steps = discovery_steps("https://idp.example", settings(clock, deadline=10))
    first = next(steps)
    assert isinstance(first, Send) and first.time_left == 10.0
    with pytest.raises(TokenEndpointUnavailableError, match="deadline of 10s exceeded: HTTP 503"):
        steps.send(answer(503, retry_after="60"))


def test_the_driver_hands_the_time_left_to_the_transport() -> None:
    clock = FakeClock()
    seen: list[TransportOptions] = []

    class Recording:
        def send(
            self, request: EncodedRequest, *, options: TransportOptions, sent_at: float
        ) -> HttpResponse:
            seen.append(options)
            clock.advance(4.0)
            if len(seen) == 1:
                return answer(503, retry_after="1")
            return answer(200, body=TOKEN_BODY)

        def close(self) -> None:
            pass

    base = TransportOptions(read_timeout=10.0)
    result: Any = drive(
        fetch_steps(token_flow(), settings(clock, deadline=10)),
        transport=Recording(),
        options=base,
        clock=clock,
    )
    assert result.attempts == 2
    assert [o.deadline for o in seen] == [10.0, 5.0]  # 10, then 10 - 4 (request) - 1 (wait)
    assert all(o.read_timeout == 10.0 for o in seen)  # the rest is the profile's own


def test_the_default_deadline() -> None:
    assert RetryPolicy().deadline == DEFAULT_DEADLINE == 30.0


# -- the pieces of one exchange ----------------------------------------------------------


def classify(outcome: Any, attempt: int = 1, *, attempts: int = 4) -> Any:
    clock = FakeClock()
    return _classify(
        outcome, attempt, url=URL, settings=settings(clock, attempts=attempts), attempts=Attempts()
    )


@pytest.mark.parametrize("status", [200, 400, 401, 404])
def test_classify_an_answer_not_retried_is_the_answer(status: int) -> None:
    assert classify(answer(status)) is None


def test_classify_a_retryable_status_waits_what_the_server_asked() -> None:
    assert classify(answer(503, retry_after="3")) == (3.0, "HTTP 503", 503)


def test_classify_a_retryable_transport_failure_carries_no_status() -> None:
    wait, why, status = classify(TransportError("connect", "refused", retryable=True))
    assert (why, status) == ("refused", None) and wait >= 0


@pytest.mark.parametrize(
    ("outcome", "raised", "message"),
    [
        (TransportError("too_large", "too big", retryable=False), TokenResponseError, "too big"),
        (
            TransportError("deadline", "cut off", retryable=False),
            TokenEndpointUnavailableError,
            "deadline",
        ),
        (
            TransportError("tls", "bad cert", retryable=False),
            TokenEndpointUnavailableError,
            "bad cert",
        ),
    ],
)
def test_classify_raises_for_terminal_transport_failures(
    outcome: TransportError, raised: type[Exception], message: str
) -> None:
    with pytest.raises(raised, match=message):
        classify(outcome)


def test_classify_raises_on_the_last_attempt() -> None:
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        classify(answer(503), attempt=2, attempts=2)
    assert caught.value.last_status == 503
    with pytest.raises(TokenEndpointUnavailableError, match="refused"):
        classify(TransportError("connect", "refused", retryable=True), attempt=2, attempts=2)


def test_start_deadline_starts_once_from_the_first_request_or_the_given_start() -> None:
    clock = FakeClock()
    clock.advance(5.0)
    counted = Attempts()
    start = clock.monotonic()
    assert _start_deadline(settings(clock, deadline=10), counted) == start + 10
    clock.advance(3.0)
    assert _start_deadline(settings(clock, deadline=10), counted) == start + 10  # not restarted
    earlier = settings(clock, deadline=10, started_at=1.0)
    assert _start_deadline(earlier, Attempts()) == 11.0
