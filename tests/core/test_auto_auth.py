"""core/auto_auth: the methods a fetch tries, what auto learns, and when it moves on."""

from __future__ import annotations

import pytest

from tokenrack.core.auto_auth import AuthPins, AuthPlanner
from tokenrack.core.endpoint import Endpoint
from tokenrack.errors import ConfigError, InvalidClientError, TokenRequestError

SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "private_key_jwt"})
ENDPOINT = Endpoint("https://idp.example/token")


def planner(
    configured: str = "auto",
    *,
    material: frozenset[str] = frozenset({"client_secret_basic", "client_secret_post"}),
    supported: frozenset[str] = SECRET_METHODS,
    pins: AuthPins | None = None,
) -> AuthPlanner:
    return AuthPlanner(
        profile="p",
        source="f.yaml",
        configured=configured,
        supported=supported,
        has_material=material.__contains__,
        client_id="c",
        pins=pins or AuthPins(),
    )


def refusal(status: int = 401, error: str = "invalid_client") -> TokenRequestError:
    return InvalidClientError(status=status, error=error)


def test_a_named_method_is_the_whole_plan() -> None:
    assert planner("private_key_jwt").plan(ENDPOINT) == ["private_key_jwt"]


def test_auto_without_metadata_tries_basic_then_post() -> None:
    assert planner().plan(ENDPOINT) == ["client_secret_basic", "client_secret_post"]


def test_auto_with_metadata_takes_the_strongest_advertised_method_with_material() -> None:
    endpoint = Endpoint(ENDPOINT.token_url, advertised=("client_secret_post", "private_key_jwt"))
    material = frozenset({"client_secret_post", "private_key_jwt"})
    assert planner(material=material).plan(endpoint) == ["private_key_jwt"]


def test_auto_with_nothing_in_common_is_a_config_error_at_the_auth_method() -> None:
    endpoint = Endpoint(ENDPOINT.token_url, advertised=("tls_client_auth",))
    with pytest.raises(ConfigError) as caught:
        planner().plan(endpoint)
    assert caught.value.path == "profiles.p.auth_method"
    assert caught.value.file == "f.yaml"
    assert "auth_method auto" in str(caught.value)


def test_a_refusal_as_a_client_moves_on_to_the_next_planned_method() -> None:
    auto = planner()
    methods = auto.plan(ENDPOINT)
    assert auto.next_after(methods, 0, refusal(), ENDPOINT) == "client_secret_post"
    assert auto.next_after(methods, 0, refusal(400), ENDPOINT) == "client_secret_post"
    assert auto.next_after(methods, 0, refusal(401, "other"), ENDPOINT) == "client_secret_post"


@pytest.mark.parametrize("status,error", [(500, "server_error"), (400, "invalid_scope")])
def test_other_failures_never_move_on(status: int, error: str) -> None:
    auto = planner()
    methods = auto.plan(ENDPOINT)
    failure = TokenRequestError(status=status, error=error)
    assert auto.next_after(methods, 0, failure, ENDPOINT) is None


def test_the_last_method_has_no_next() -> None:
    auto = planner()
    methods = auto.plan(ENDPOINT)
    assert auto.next_after(methods, len(methods) - 1, refusal(), ENDPOINT) is None


def test_a_choice_among_several_is_pinned_per_endpoint_and_client() -> None:
    pins = AuthPins()
    auto = planner(pins=pins)
    methods = auto.plan(ENDPOINT)
    auto.worked(methods, "client_secret_post", ENDPOINT)
    assert pins.get(ENDPOINT.token_url, "c") == "client_secret_post"
    assert auto.plan(ENDPOINT) == ["client_secret_post"]
    assert pins.get("https://other.example/token", "c") is None


def test_a_single_planned_method_is_not_pinned() -> None:
    pins = AuthPins()
    auto = planner(material=frozenset({"client_secret_post"}), pins=pins)
    methods = auto.plan(ENDPOINT)
    assert methods == ["client_secret_post"]
    auto.worked(methods, "client_secret_post", ENDPOINT)
    assert pins.get(ENDPOINT.token_url, "c") is None


def test_a_named_method_ignores_pins() -> None:
    pins = AuthPins()
    pins.pin(ENDPOINT.token_url, "c", "client_secret_post")
    assert planner("client_secret_basic", pins=pins).plan(ENDPOINT) == ["client_secret_basic"]
