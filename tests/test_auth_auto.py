"""auth_method: auto — chosen from metadata, or basic-then-post on a refusal only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, profile
from tests.keys import private_pem, public_pem
from tokenrack.auth.selection import NoCommonMethodError, ordered_candidates, pinned_first, plan
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    InvalidClientError,
    InvalidRequestError,
    TokenEndpointUnavailableError,
)
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


def test_plan_follows_the_material_and_never_picks_a_jwt_for_a_secret() -> None:
    everything = {
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "client_secret_jwt",
        "client_secret_basic",
        "client_secret_post",
        "none",
        "third_party_method",
    }
    assert ordered_candidates(everything, lambda m: True) == [
        "private_key_jwt",
        "tls_client_auth",
        "client_secret_basic",
        "client_secret_post",
    ]
    secret = ["client_secret_basic", "client_secret_post"]
    # Advertised client_secret_jwt is ignored: the client is registered for basic or post.
    advertised = ["client_secret_jwt", "client_secret_post", "client_secret_basic"]
    assert plan(secret, advertised, public_allowed=True) == secret
    assert plan(secret, None, public_allowed=True) == secret
    # Metadata narrows (post only: no basic try), never adds.
    assert plan(secret, ["client_secret_post"], public_allowed=True) == ["client_secret_post"]
    assert plan(
        ["client_secret_basic"], ["client_secret_basic", "client_secret_post"], public_allowed=True
    ) == ["client_secret_basic"]
    assert plan(["private_key_jwt", *secret], None, public_allowed=True) == ["private_key_jwt"]
    assert plan(["private_key_jwt", *secret], ["client_secret_post"], public_allowed=True) == [
        "client_secret_post"
    ]
    assert plan(["tls_client_auth"], None, public_allowed=True) == ["tls_client_auth"]
    assert plan([], ["none"], public_allowed=True) == ["none"]
    with pytest.raises(NoCommonMethodError, match="server supports private_key_jwt"):
        plan(["client_secret_basic"], ["private_key_jwt"], public_allowed=True)
    with pytest.raises(NoCommonMethodError, match="auto never picks client_secret_jwt"):
        plan(secret, ["client_secret_jwt"], public_allowed=True)
    with pytest.raises(NoCommonMethodError, match="auto never picks self_signed_tls_client_auth"):
        plan(["tls_client_auth"], ["self_signed_tls_client_auth"], public_allowed=True)


def test_a_pin_only_reorders_the_planned_methods() -> None:
    secret = ["client_secret_basic", "client_secret_post"]
    assert pinned_first(secret, "client_secret_post") == [
        "client_secret_post",
        "client_secret_basic",
    ]
    assert pinned_first(secret, "client_secret_basic") == secret
    assert pinned_first(secret, None) == secret
    # A pin naming anything not planned (a planted one, or a stale one) changes nothing.
    assert pinned_first(secret, "client_secret_jwt") == secret
    assert pinned_first(secret, "none") == secret
    assert pinned_first(["client_secret_post"], "client_secret_basic") == ["client_secret_post"]


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
            "the profile has material for client_secret_basic, client_secret_post",
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


# -- the rule with metadata ------------------------------------------------------------------


def issuer_profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "issuer": emulator.issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **options,
    }


def test_metadata_advertising_client_secret_jwt_still_gets_basic(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.metadata = {
        "token_endpoint_auth_methods_supported": [
            "client_secret_jwt",
            "client_secret_basic",
            "client_secret_post",
        ]
    }
    registry = make_registry({"a": issuer_profile(emulator)})
    registry.get_token("a")
    assert [r.auth_method for r in emulator.requests] == ["client_secret_basic"]


def test_client_secret_jwt_is_used_when_named(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.metadata = {"token_endpoint_auth_methods_supported": ["client_secret_jwt"]}
    registry = make_registry({"a": issuer_profile(emulator, auth_method="client_secret_jwt")})
    registry.get_token("a")
    assert [r.auth_method for r in emulator.requests] == ["client_secret_jwt"]


def test_metadata_with_basic_and_post_keeps_the_fallback(
    strict: TokenEmulator, make_registry: MakeRegistry
) -> None:
    strict.metadata = {
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
    }
    registry = make_registry({"a": issuer_profile(strict)})
    assert registry.get_token("a").access_token in strict.issued_tokens
    assert _records_sent(strict) == ["client_secret_basic", "client_secret_post"]
    assert [r.auth_method for r in strict.requests] == [None, "client_secret_post"]


def test_metadata_advertising_only_post_skips_the_basic_try(
    strict: TokenEmulator, make_registry: MakeRegistry
) -> None:
    strict.metadata = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    registry = make_registry({"a": issuer_profile(strict)})
    registry.get_token("a")
    assert [r.auth_method for r in strict.requests] == ["client_secret_post"]


# -- pins: refused, shared, untrusted --------------------------------------------------------


def test_a_refused_pin_is_dropped_and_the_other_method_tried_once(
    strict: TokenEmulator, make_registry: MakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry({"a": profile(strict)})
    registry.get_token("a")  # basic refused, post pinned
    # The client is registered again, for basic this time.
    strict.add_client(
        EmulatorClient(CLIENT_ID, SECRET, auth_methods=frozenset({"client_secret_basic"}))
    )
    assert registry.get_token("a", force_refresh=True).access_token in strict.issued_tokens
    registry.get_token("a", force_refresh=True)
    assert _records_sent(strict) == [
        "client_secret_basic",  # refused
        "client_secret_post",  # pinned
        "client_secret_post",  # refused after the re-registration: unpinned
        "client_secret_basic",  # the plan again: pinned
        "client_secret_basic",
    ]
    assert any(
        "auth_method auto: using client_secret_basic" in r.getMessage() for r in caplog.records
    )


def _records_sent(emulator: TokenEmulator, first: int = 0) -> list[str]:
    """How each request authenticated, refused ones too (the emulator names only accepted)."""
    sent = []
    for r in emulator.requests[first:]:
        if r.headers.get("authorization", "").lower().startswith("basic "):
            sent.append("client_secret_basic")
        elif r.form_value("client_secret") is not None:
            sent.append("client_secret_post")
        else:
            sent.append(r.auth_method or "?")
    return sent


@pytest.mark.parametrize("encryption_key", [None, "k" * 40], ids=["plain", "sealed"])
def test_the_pin_is_shared_through_a_file_cache(
    strict: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Any,
    encryption_key: str | None,
) -> None:
    cache: dict[str, Any] = {"backend": "file", "path": str(tmp_path / "shared")}
    if encryption_key:
        cache["encryption_key"] = encryption_key
    # Two registries stand for two processes on one host, sharing the file cache.
    first = make_registry({"a": profile(strict, cache=cache)})
    first.get_token("a")
    assert _records_sent(strict) == ["client_secret_basic", "client_secret_post"]
    second = make_registry({"a": profile(strict, cache=cache)})
    second.get_token("a", force_refresh=True)  # a fetch, not the shared token
    assert _records_sent(strict, 2) == ["client_secret_post"]


def test_a_memory_profile_shares_no_pin(strict: TokenEmulator, make_registry: MakeRegistry) -> None:
    make_registry({"a": profile(strict)}).get_token("a")
    make_registry({"a": profile(strict)}).get_token("a")
    assert _records_sent(strict) == ["client_secret_basic", "client_secret_post"] * 2


def _plant(directory: Any, token_url: str, record: bytes) -> None:
    from tokenrack.cache.file import FileCache
    from tokenrack.core.auto_auth import pin_key

    FileCache({"path": str(directory)}, secrets={}).set(
        pin_key(token_url, CLIENT_ID), record, ttl=600
    )


@pytest.mark.parametrize(
    "record",
    [
        b'{"format": 1, "method": "client_secret_jwt"}',
        b'{"format": 1, "method": "none"}',
        b'{"format": 1, "method": "private_key_jwt"}',
        b'{"format": 2, "method": "client_secret_post"}',
        b'{"format": 1, "method": "client_secret_post", "token_url": "https://evil.example"}',
        b"not json",
        b"[]",
    ],
)
def test_a_planted_pin_never_adds_a_method(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Any, record: bytes
) -> None:
    _plant(tmp_path, emulator.token_url, record)
    registry = make_registry(
        {"a": profile(emulator, cache={"backend": "file", "path": str(tmp_path)})}
    )
    registry.get_token("a")
    assert _records_sent(emulator) == ["client_secret_basic"]


def test_a_planted_post_pin_costs_one_refusal_and_is_replaced(
    make_registry: MakeRegistry, tmp_path: Any
) -> None:
    basic_only = EmulatorClient(CLIENT_ID, SECRET, auth_methods=frozenset({"client_secret_basic"}))
    with TokenEmulator([basic_only], token_prefix=f"{TOKEN_MARK}-") as server:
        _plant(tmp_path, server.token_url, b'{"format": 1, "method": "client_secret_post"}')
        cache = {"backend": "file", "path": str(tmp_path)}
        make_registry({"a": profile(server, cache=cache)}).get_token("a")
        # The fallback is never skipped: post refused, then basic.
        assert _records_sent(server) == ["client_secret_post", "client_secret_basic"]
        make_registry({"a": profile(server, cache=cache)}).get_token("a", force_refresh=True)
        assert _records_sent(server, 2) == ["client_secret_basic"]


def test_an_unsealed_pin_is_ignored_by_a_cache_with_a_key(
    strict: TokenEmulator, make_registry: MakeRegistry, tmp_path: Any
) -> None:
    _plant(tmp_path, strict.token_url, b'{"format": 1, "method": "client_secret_post"}')
    cache = {"backend": "file", "path": str(tmp_path), "encryption_key": "k" * 40}
    make_registry({"a": profile(strict, cache=cache)}).get_token("a")
    assert _records_sent(strict) == ["client_secret_basic", "client_secret_post"]


def test_the_pin_is_sealed_in_redis_with_a_key(
    strict: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    import redis

    from tokenrack.core.auto_auth import pin_key

    cache = {
        "backend": "redis",
        "url": redis_url,
        "key_prefix": redis_prefix,
        "encryption_key": "k" * 40,
    }
    make_registry({"a": profile(strict, cache=cache)}).get_token("a")
    make_registry({"a": profile(strict, cache=cache)}).get_token("a", force_refresh=True)
    assert _records_sent(strict) == [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_post",
    ]
    client = redis.Redis.from_url(redis_url)
    try:
        names = [n.decode() for n in client.scan_iter(match=redis_prefix + "*")]
        pins = [n for n in names if pin_key(strict.token_url, CLIENT_ID) in n]
        assert len(pins) == 1
        stored = client.get(pins[0])
    finally:
        client.close()
    assert stored is not None and b"sealed" in stored and b"client_secret_post" not in stored


def test_an_outage_neither_drops_a_pin_nor_falls_back(
    strict: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(strict)}, clock=clock)
    registry.get_token("a")  # basic refused, post pinned
    strict.fail_next(*[Fault.http(503)] * 3)
    with pytest.raises(TokenEndpointUnavailableError):
        registry.get_token("a", force_refresh=True)
    clock.advance(600)  # past the failure backoff
    registry.get_token("a", force_refresh=True)
    assert _records_sent(strict)[2:] == ["client_secret_post"] * 4
