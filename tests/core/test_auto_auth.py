"""core/auto_auth: the methods a fetch tries, what auto learns, and when it moves on."""

from __future__ import annotations

import pytest

from tokenrack.core.auto_auth import AuthPins, AuthPlanner, SharedPins, pin_key
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
    shared: SharedPins | None = None,
) -> AuthPlanner:
    return AuthPlanner(
        profile="p",
        source="f.yaml",
        configured=configured,
        supported=supported,
        has_material=material.__contains__,
        client_id="c",
        pins=pins or AuthPins(),
        shared=shared,
    )


def refusal(status: int = 401, error: str = "invalid_client") -> TokenRequestError:
    return InvalidClientError(status=status, error=error)


def test_a_named_method_is_the_whole_plan() -> None:
    assert planner("private_key_jwt").plan(ENDPOINT) == ["private_key_jwt"]


def test_auto_without_metadata_tries_basic_then_post() -> None:
    assert planner().plan(ENDPOINT) == ["client_secret_basic", "client_secret_post"]


def test_auto_with_a_private_key_uses_private_key_jwt_when_advertised() -> None:
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
    # Pinned first; the fallback stays, for a client registered again.
    assert auto.plan(ENDPOINT) == ["client_secret_post", "client_secret_basic"]
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


def test_a_refused_pin_is_dropped() -> None:
    pins = AuthPins()
    auto = planner(pins=pins)
    auto.worked(auto.plan(ENDPOINT), "client_secret_post", ENDPOINT)
    methods = auto.plan(ENDPOINT)
    assert auto.next_after(methods, 0, refusal(), ENDPOINT) == "client_secret_basic"
    assert pins.get(ENDPOINT.token_url, "c") is None


class MemoryBackend:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        self.data[key] = value
        return True

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


def test_a_fallback_is_shared_and_read_by_the_next_planner() -> None:
    backend = MemoryBackend()
    first = planner(shared=SharedPins(backend))
    methods = first.plan(ENDPOINT)
    first.worked(methods, "client_secret_post", ENDPOINT)
    assert backend.data == {
        pin_key(ENDPOINT.token_url, "c"): b'{"format": 1, "method": "client_secret_post"}'
    }
    second = planner(shared=SharedPins(backend))
    assert second.plan(ENDPOINT) == ["client_secret_post", "client_secret_basic"]
    # Refused: the shared pin is dropped too.
    second.next_after(["client_secret_post", "client_secret_basic"], 0, refusal(), ENDPOINT)
    assert backend.data == {}


def test_a_first_method_that_worked_is_not_written_again() -> None:
    backend = MemoryBackend()
    auto = planner(shared=SharedPins(backend))
    auto.worked(auto.plan(ENDPOINT), "client_secret_basic", ENDPOINT)
    assert backend.data == {}


def test_a_sealed_pin_is_bound_to_its_endpoint_and_client() -> None:
    from tokenrack.cache.record import RecordCipher
    from tokenrack.secret.value import Secret

    cipher = RecordCipher(Secret("k" * 40))
    backend = MemoryBackend()
    shared = SharedPins(backend, lambda: cipher)
    shared.store(ENDPOINT.token_url, "c", "client_secret_post")
    (stored,) = backend.data.values()
    assert b"client_secret_post" not in stored
    assert shared.load(ENDPOINT.token_url, "c") == "client_secret_post"
    # Moved to another client's key: does not open.
    backend.data[pin_key(ENDPOINT.token_url, "other")] = stored
    assert shared.load(ENDPOINT.token_url, "other") is None
    # A plain pin beside a key is ignored; a sealed one without a key too.
    backend.data[pin_key(ENDPOINT.token_url, "c")] = (
        b'{"format": 1, "method": "client_secret_post"}'
    )
    assert shared.load(ENDPOINT.token_url, "c") is None
    backend.data[pin_key(ENDPOINT.token_url, "c")] = stored
    assert SharedPins(backend).load(ENDPOINT.token_url, "c") is None
