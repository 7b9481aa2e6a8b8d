"""core/refusal: a refusal of the client as an explicit outcome the token store repeats."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import FakeClock
from tokenrack.core.refusal import Refused, is_refusal, with_cooldown
from tokenrack.core.store import CachedToken, TokenStore
from tokenrack.errors import (
    InvalidClientError,
    TokenRequestError,
    TokenResponseError,
    UnauthorizedClientError,
)


def refusing(error: BaseException, calls: list[str]) -> Callable[[str], CachedToken]:
    def refresh(reason: str) -> CachedToken:
        calls.append(reason)
        raise error

    return refresh


def test_only_invalid_and_unauthorized_client_are_refusals() -> None:
    assert is_refusal(InvalidClientError(status=401, error="invalid_client"))
    assert is_refusal(UnauthorizedClientError(status=400, error="unauthorized_client"))
    assert not is_refusal(TokenRequestError(status=400, error="invalid_scope"))
    assert not is_refusal(TokenResponseError("not JSON"))


def test_a_refusal_is_raised_as_refused_carrying_the_error_and_cooldown() -> None:
    error = InvalidClientError(status=401, error="invalid_client")
    refresh = with_cooldown(refusing(error, []), 30.0)
    with pytest.raises(Refused) as caught:
        refresh("cold")
    assert caught.value.error is error
    assert caught.value.cooldown == 30.0


def test_other_errors_pass_through_unchanged() -> None:
    error = TokenRequestError(status=500, error="server_error")
    refresh = with_cooldown(refusing(error, []), 30.0)
    with pytest.raises(TokenRequestError) as caught:
        refresh("cold")
    assert caught.value is error


def test_a_zero_cooldown_leaves_the_refresh_as_it_is() -> None:
    def refresh(reason: str) -> str:
        return reason

    assert with_cooldown(refresh, 0.0) is refresh


def test_the_store_repeats_the_original_error_until_the_cooldown_is_over() -> None:
    clock = FakeClock()
    store = TokenStore(clock)
    error = InvalidClientError(status=401, error="invalid_client")
    calls: list[str] = []
    refresh = with_cooldown(refusing(error, calls), 60.0)
    for _ in range(3):
        with pytest.raises(InvalidClientError) as caught:
            store.get("k", refresh)
        assert caught.value is error  # callers never see the Refused wrapper
    assert len(calls) == 1
    clock.advance(61.0)
    with pytest.raises(InvalidClientError):
        store.get("k", refresh)
    assert len(calls) == 2


def test_without_a_cooldown_the_store_asks_again_after_its_backoff() -> None:
    clock = FakeClock()
    store = TokenStore(clock)
    error = InvalidClientError(status=401, error="invalid_client")
    calls: list[str] = []
    refresh = with_cooldown(refusing(error, calls), 0.0)
    with pytest.raises(InvalidClientError):
        store.get("k", refresh)
    with pytest.raises(InvalidClientError) as repeated:
        store.get("k", refresh)  # within the failure backoff: repeated, not asked
    assert repeated.value is error
    assert len(calls) == 1
    clock.advance(1.5)  # past the first failure backoff
    with pytest.raises(InvalidClientError):
        store.get("k", refresh)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        TokenRequestError(status=400, error="invalid_scope"),
        TokenRequestError(status=403, error="access_denied"),
        TokenResponseError("not JSON"),
    ],
    ids=["invalid_scope", "403", "not-a-token"],
)
def test_a_lasting_failure_that_is_no_refusal_is_repeated_during_the_backoff(
    error: Exception,
) -> None:
    clock = FakeClock()
    store = TokenStore(clock)
    calls: list[str] = []
    refresh = with_cooldown(refusing(error, calls), 30.0)
    for _ in range(3):
        with pytest.raises(type(error)) as caught:
            store.get("k", refresh)
        assert caught.value is error
    assert len(calls) == 1  # a backoff of 1 s, not the 30-s refusal cooldown
    clock.advance(1.5)
    with pytest.raises(type(error)):
        store.get("k", refresh)
    assert len(calls) == 2
