"""invalid_client and unauthorized_client: no retry, and a cooldown per cache key."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.conftest import FakeClock, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import InvalidClientError, UnauthorizedClientError
from tokenrack.testing import Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.http(401, {"error": "invalid_client"}), InvalidClientError),
        (Fault.http(400, {"error": "unauthorized_client"}), UnauthorizedClientError),
    ],
)
def test_callers_get_the_same_refusal_without_another_request(
    fault: Fault,
    cls: type[Exception],
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
) -> None:
    emulator.fail_next(fault)
    registry = make_registry(
        {"a": profile(emulator, auth_method="client_secret_basic")}, clock=clock
    )
    with pytest.raises(cls) as first:
        registry.get_token("a")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            registry.get_token("a")
        except cls as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 32 and all(e is first.value for e in errors)
    with pytest.raises(cls):
        registry.get_token("a", force_refresh=True)  # forcing does not get around it
    assert emulator.request_count == 1
    clock.advance(30.5)  # the default cooldown is over: the server is asked again
    registry.get_token("a")
    assert emulator.request_count == 2


def test_cooldown_is_configurable_and_zero_turns_it_off(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[Fault.http(401, {"error": "invalid_client"})] * 3)
    registry = make_registry(
        {
            "long": profile(
                emulator, auth_method="client_secret_basic", refusal_cooldown=300, scopes=["l"]
            ),
            "none": profile(
                emulator, auth_method="client_secret_basic", refusal_cooldown=0, scopes=["n"]
            ),
        },
        clock=clock,
    )
    with pytest.raises(InvalidClientError):
        registry.get_token("long")
    clock.advance(60)
    with pytest.raises(InvalidClientError):
        registry.get_token("long")  # still cooling down after 60 s
    assert emulator.request_count == 1
    with pytest.raises(InvalidClientError):
        registry.get_token("none")
    with pytest.raises(InvalidClientError):
        registry.get_token("none")  # no cooldown, but the failure backoff (1 s) runs
    assert emulator.request_count == 2
    clock.advance(1.5)
    with pytest.raises(InvalidClientError):
        registry.get_token("none")  # no cooldown: asked again after the backoff
    assert emulator.request_count == 3


def test_a_cached_token_is_still_served_during_the_cooldown(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry(
        {"a": profile(emulator, auth_method="client_secret_basic")}, clock=clock
    )
    cached = registry.get_token("a")
    clock.advance(3585)  # mandatory window: a refresh is due, the token still valid
    emulator.fail_next(Fault.http(401, {"error": "invalid_client"}))
    assert registry.get_token("a") is cached  # the refusal is logged, the token served
    assert registry.get_token("a") is cached
    assert emulator.request_count == 2


def test_other_profiles_are_not_cooled_down(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(Fault.http(401, {"error": "invalid_client"}))
    registry = make_registry(
        {
            "bad": profile(emulator, auth_method="client_secret_basic", scopes=["x"]),
            "good": profile(emulator, scopes=["y"]),
        },
        clock=clock,
    )
    with pytest.raises(InvalidClientError):
        registry.get_token("bad")
    assert registry.get_token("good").access_token in emulator.issued_tokens
