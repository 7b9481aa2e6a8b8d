"""auth_method: auto — chosen from metadata, or basic-then-post on a refusal only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, profile
from tests.keys import private_pem, public_pem
from tokenrack.auth.selection import NoCommonMethodError, ordered_candidates, plan
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    InvalidClientError,
    InvalidRequestError,
    TokenEndpointUnavailableError,
)
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


def test_plan_prefers_keys_and_certificates_to_secrets() -> None:
    everything = {
        "private_key_jwt",
        "tls_client_auth",
        "client_secret_jwt",
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    candidates = ordered_candidates(everything, lambda m: True)
    assert candidates == [
        "private_key_jwt",
        "tls_client_auth",
        "client_secret_jwt",
        "client_secret_basic",
        "client_secret_post",
    ]
    assert plan(candidates, ["client_secret_post", "client_secret_basic"], public_allowed=True) == [
        "client_secret_basic"
    ]
    assert plan(candidates, None, public_allowed=True) == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert plan(["private_key_jwt"], None, public_allowed=True) == ["private_key_jwt"]
    assert plan([], ["none"], public_allowed=True) == ["none"]
    with pytest.raises(NoCommonMethodError, match="server supports private_key_jwt"):
        plan(["client_secret_basic"], ["private_key_jwt"], public_allowed=True)


@pytest.fixture
def strict() -> Any:
    """A server that accepts the canary client's secret only in the body."""
    client = EmulatorClient(CLIENT_ID, SECRET, auth_methods=frozenset({"client_secret_post"}))
    with TokenEmulator([client], token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


def test_without_metadata_basic_is_tried_first(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": profile(emulator)})
    registry.get_token("a")
    assert [r.auth_method for r in emulator.requests] == ["client_secret_basic"]


def test_a_refused_basic_falls_back_to_post_once_then_pins_it(
    strict: TokenEmulator, make_registry: MakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry({"a": profile(strict), "b": profile(strict, scopes=["other"])})
    assert registry.get_token("a").access_token in strict.issued_tokens
    assert [r.headers.get("authorization") is not None for r in strict.requests] == [True, False]
    assert any(
        "auth_method auto: using client_secret_post" in r.getMessage() for r in caplog.records
    )
    registry.get_token("a", force_refresh=True)
    registry.get_token("b")  # same token URL and client: the pin applies
    assert len(strict.requests) == 4
    assert all("authorization" not in r.headers for r in strict.requests[2:])


def test_both_refused_keeps_the_first_error(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": profile(emulator, client_secret="wrong")})
    with pytest.raises(InvalidClientError) as caught:
        registry.get_token("a")
    error = caught.value
    assert isinstance(error.earlier, InvalidClientError)
    assert error.__cause__ is error.earlier
    assert "before that, client_secret_basic was refused" in str(error)
    assert emulator.request_count == 2


@pytest.mark.parametrize(
    "fault",
    [Fault.http(500), Fault.http(503), Fault.hang(30), Fault.reset()],
    ids=["500", "503", "timeout", "reset"],
)
def test_no_fallback_on_outages(
    fault: Fault, strict: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    strict.fail_next(*[fault] * 3)
    registry = make_registry(
        {"a": profile(strict, timeout={"connect": 1, "read": 0.2})}, clock=clock
    )
    with pytest.raises(TokenEndpointUnavailableError):
        registry.get_token("a")
    assert all("authorization" in r.headers for r in strict.requests)  # basic only, never post


def test_no_fallback_on_other_refusals(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(Fault.http(400, {"error": "invalid_request"}))
    registry = make_registry({"a": profile(emulator)})
    with pytest.raises(InvalidRequestError):
        registry.get_token("a")
    assert emulator.request_count == 1


def test_metadata_picks_the_strongest_common_method(
    make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTO_KEY", private_pem("p256"))
    client = EmulatorClient(CLIENT_ID, SECRET, public_key=public_pem("p256"))
    with TokenEmulator([client], token_prefix=TOKEN_MARK) as emulator:
        emulator.metadata = {
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"]
        }
        registry = make_registry(
            {
                "a": {
                    "provider": "generic",
                    "issuer": emulator.issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": SECRET,
                    "private_key": {"env": "AUTO_KEY"},
                }
            }
        )
        registry.get_token("a")
        assert [r.auth_method for r in emulator.requests] == ["private_key_jwt"]


def test_metadata_with_only_methods_the_profile_cannot_use(make_registry: MakeRegistry) -> None:
    with TokenEmulator([], token_prefix=TOKEN_MARK) as emulator:
        emulator.metadata = {
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"]
        }
        registry = make_registry(
            {
                "a": {
                    "provider": "generic",
                    "issuer": emulator.issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": SECRET,
                }
            }
        )
        with pytest.raises(
            ConfigError,
            match="auth_method auto: the server supports private_key_jwt, tls_client_auth; "
            "the profile has material for client_secret_jwt, client_secret_basic",
        ):
            registry.get_token("a")
        assert emulator.request_count == 0


def test_auto_needs_some_credentials() -> None:
    with pytest.raises(
        ConfigError, match="profiles.a.auth_method: auto found no client credentials"
    ):
        Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "a": {"provider": "generic", "token_url": "https://x/t", "client_id": "c"}
                },
            }
        ).runtime("a")
