"""A Retry-After longer than max_backoff holds the endpoint; 408 and body-level outages retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import FakeClock, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import InvalidRequestError, TokenEndpointUnavailableError
from tokenrack.oauth.throttle import EndpointThrottle
from tokenrack.testing import Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


def _slow_down(seconds: int = 120, status: int = 429) -> Fault:
    return Fault.http(status, {"error": "slow_down"}, headers={"Retry-After": str(seconds)})


def _profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    return profile(emulator, retries={"attempts": 4, "backoff": 0.5, "max_backoff": 5}, **options)


def test_a_long_retry_after_is_not_retried_and_holds_the_endpoint_for_every_caller(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(_slow_down(120))
    # Two profiles, two cache keys (different scopes), one token endpoint.
    registry = make_registry(
        {"a": _profile(emulator, scopes=["read"]), "b": _profile(emulator, scopes=["write"])},
        clock=clock,
    )
    with pytest.raises(TokenEndpointUnavailableError) as first:
        registry.get_token("a")
    assert first.value.retry_after == 120
    assert first.value.last_status == 429
    assert "max_backoff 5s" in str(first.value)
    assert emulator.request_count == 1  # no capped 5 s wait and a second request
    assert clock.slept == []

    clock.advance(60)
    for name in ("a", "b"):  # b has never fetched: its cache is empty, and still no request
        with pytest.raises(TokenEndpointUnavailableError) as held:
            registry.get_token(name, force_refresh=True)
        assert held.value.retry_after == pytest.approx(60)
        assert held.value.attempts == 0
    assert emulator.request_count == 1

    clock.advance(61)  # the window has passed: the server is asked again
    assert registry.get_token("b").access_token
    assert emulator.request_count == 2


def test_an_http_date_retry_after_holds_the_endpoint_too(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    from email.utils import formatdate

    when = formatdate(clock.time() + 300, usegmt=True)
    emulator.fail_next(Fault.http(503, headers={"Retry-After": when}))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as raised:
        registry.get_token("a")
    assert raised.value.retry_after == pytest.approx(300, abs=1)
    clock.advance(100)
    with pytest.raises(TokenEndpointUnavailableError):
        registry.get_token("a", force_refresh=True)
    assert emulator.request_count == 1


def test_a_retry_after_within_max_backoff_is_waited_and_retried(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(_slow_down(3))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    assert registry.get_token("a").access_token
    assert emulator.request_count == 2
    assert clock.slept == [3.0]


def test_registries_do_not_share_a_hold(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(_slow_down(120))
    first = make_registry({"a": _profile(emulator)}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError):
        first.get_token("a")
    second = make_registry({"a": _profile(emulator)}, clock=clock)
    assert second.get_token("a").access_token  # its own first answer teaches it
    assert emulator.request_count == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(408, {"error": "request_timeout"}),
        Fault.http(400, {"error": "temporarily_unavailable"}),
        Fault.http(400, {"error": "server_error", "error_description": "try again"}),
        Fault.http(400, {"error": "internal_failure"}),
    ],
    ids=["408", "temporarily_unavailable", "server_error", "internal_failure"],
)
def test_transient_answers_are_retried(
    fault: Fault, emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(fault)
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    assert registry.get_token("a").access_token
    assert emulator.request_count == 2


def test_a_lasting_body_level_outage_is_reported_as_unavailable(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    for _ in range(4):
        emulator.fail_next(Fault.http(400, {"error": "temporarily_unavailable"}))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as raised:
        registry.get_token("a")
    assert "HTTP 400 temporarily_unavailable" in str(raised.value)
    assert raised.value.retry_after is None
    assert emulator.request_count == 4


def test_another_400_is_not_retried(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(Fault.http(400, {"error": "invalid_request"}))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    with pytest.raises(InvalidRequestError):
        registry.get_token("a")
    assert emulator.request_count == 1


def test_throttle_keeps_the_longer_hold_and_forgets_a_passed_one(clock: FakeClock) -> None:
    throttle = EndpointThrottle(clock.monotonic)
    throttle.hold("https://idp/token", 100)
    throttle.hold("https://idp/token", 10)
    assert throttle.remaining("https://idp/token") == 100
    assert throttle.remaining("https://other/token") is None
    clock.advance(100)
    assert throttle.remaining("https://idp/token") is None


def test_the_cli_hint_says_when_to_try_again() -> None:
    from tokenrack.cli.exit_codes import describe

    error = TokenEndpointUnavailableError("HTTP 429", attempts=1, last_status=429, retry_after=90)
    assert "it asked for no request for 90s; try again after that" in describe(error)
    plain = TokenEndpointUnavailableError("HTTP 503", attempts=4, last_status=503)
    assert "check the network" in describe(plain)


def test_a_rate_limit_reset_on_a_503_does_not_hold_the_endpoint(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    # Okta sends X-RateLimit-Reset on every answer; on a 503 it is no request to wait.
    reset = str(int(clock.time()) + 50)
    emulator.fail_next(Fault.http(503, headers={"X-Rate-Limit-Reset": reset}))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    assert registry.get_token("a").access_token
    assert emulator.request_count == 2
    assert clock.slept == [5.0]  # capped, as before


def test_a_rate_limit_reset_on_a_429_holds_the_endpoint(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    reset = str(int(clock.time()) + 50)
    emulator.fail_next(Fault.http(429, headers={"X-Rate-Limit-Reset": reset}))
    registry = make_registry({"a": _profile(emulator)}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as raised:
        registry.get_token("a")
    assert raised.value.retry_after == pytest.approx(50)
    assert emulator.request_count == 1
