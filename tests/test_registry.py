"""get_token against a real token endpoint on loopback: caching, single-flight, retries, faults."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CLIENT_ID,
    SECRET,
    TOKEN_MARK,
    FakeClock,
    canary_client,
    profile,
    wait_until,
    without_coverage,
)
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    SecretError,
    TokenEndpointUnavailableError,
    TokenRequestError,
    TokenResponseError,
)
from tokenrack.testing import Fault, TokenEmulator
from tokenrack.testing.tls import make_certificates
from tokenrack.token import Token

MakeRegistry = Callable[..., Registry]


def test_first_call_fetches_and_later_calls_hit_the_cache(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": profile(emulator, scopes=["read"])})
    first = registry.get_token("a")
    assert first.access_token.startswith(TOKEN_MARK)
    assert first.scopes == ("read",)
    assert all(registry.get_token("a") is first for _ in range(100))
    assert emulator.request_count == 1


def test_64_threads_on_a_cold_cache_make_one_request(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.latency = 0.05
    registry = make_registry({"a": profile(emulator)})
    barrier = threading.Barrier(64)
    tokens: list[Token] = []

    def call() -> None:
        barrier.wait()
        tokens.append(registry.get_token("a"))

    threads = [threading.Thread(target=call) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert emulator.request_count == 1
    assert len(tokens) == 64 and len({t.access_token for t in tokens}) == 1


def test_profiles_with_different_scopes_neither_share_nor_wait(make_registry: MakeRegistry) -> None:
    with (
        TokenEmulator([canary_client()], token_prefix=TOKEN_MARK) as slow,
        TokenEmulator([canary_client()], token_prefix=TOKEN_MARK) as fast,
    ):
        registry = make_registry(
            {"slow": profile(slow, scopes=["a"]), "fast": profile(fast, scopes=["b"])}
        )
        slow.gate.clear()
        blocked = threading.Thread(target=registry.get_token, args=("slow",))
        blocked.start()
        wait_until(lambda: slow.request_count == 1)
        # While "slow" is stuck in its fetch, "fast" is fetched and served.
        assert registry.get_token("fast").scopes == ("b",)
        assert blocked.is_alive()
        slow.gate.set()
        blocked.join()
        assert registry.get_token("slow").scopes == ("a",)
        assert registry.get_token("slow").access_token != registry.get_token("fast").access_token


def test_same_identity_shares_one_token_whatever_the_scope_order(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {"x": profile(emulator, scopes=["a", "b"]), "y": profile(emulator, scopes=["b", "a"])}
    )
    assert registry.get_token("x").access_token == registry.get_token("y").access_token
    assert emulator.request_count == 1


def test_audience_separates_tokens(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    registry = make_registry(
        {"x": profile(emulator, audience="https://a"), "y": profile(emulator, audience="https://b")}
    )
    assert registry.get_token("x").access_token != registry.get_token("y").access_token
    assert [r.form_value("audience") for r in emulator.requests] == ["https://a", "https://b"]


def test_force_refresh_and_invalidate(
    emulator: TokenEmulator, make_registry: MakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry({"a": profile(emulator)})
    first = registry.get_token("a")
    forced = registry.get_token("a", force_refresh=True)
    assert forced.access_token != first.access_token
    assert registry.invalidate("a") is True
    third = registry.get_token("a")
    assert third.access_token not in (first.access_token, forced.access_token)
    assert emulator.request_count == 3
    reasons = [r.getMessage() for r in caplog.records if "fetching token" in r.getMessage()]
    assert [m.rsplit("reason: ", 1)[1] for m in reasons] == ["cold)", "forced)", "invalidated)"]


def test_early_window_one_background_refresh_others_keep_the_cached_token(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    first = registry.get_token("a")
    clock.advance(3500)  # into the early window, whatever the jitter (3300..3435 to 3570)
    emulator.gate.clear()  # the endpoint holds its answers
    served = [registry.get_token("a") for _ in range(200)]
    # Every call returned at once with the cached token while the refresh was held.
    assert all(t is first for t in served)
    wait_until(lambda: emulator.request_count == 2)
    emulator.gate.set()
    wait_until(lambda: registry.get_token("a") is not first)
    assert emulator.request_count == 2


def test_early_refresh_failure_keeps_serving(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    first = registry.get_token("a")
    clock.advance(3500)
    emulator.fail_next(*[Fault.http(503)] * 3)
    assert registry.get_token("a") is first
    wait_until(lambda: any("early refresh for a failed" in r.getMessage() for r in caplog.records))
    assert registry.get_token("a") is first
    assert emulator.request_count == 4  # the first fetch, then one refresh of 3 attempts


def test_expired_token_is_never_served(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    first = registry.get_token("a")
    clock.advance(3601)
    emulator.fail_next(*[Fault.http(503)] * 3)
    with pytest.raises(TokenEndpointUnavailableError):
        registry.get_token("a")
    clock.advance(1.0)  # past the failure backoff
    second = registry.get_token("a")
    assert second.access_token != first.access_token


def test_retries_honour_retry_after(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(
        Fault.http(503, headers={"Retry-After": "2"}),
        # Epoch seconds; the fake clock will stand at +2 after the first wait.
        Fault.http(429, headers={"X-Rate-Limit-Reset": str(int(clock.time()) + 5)}),
    )
    registry = make_registry(
        {"a": profile(emulator, retries={"attempts": 4, "backoff": 0.01, "max_backoff": 8})},
        clock=clock,
    )
    registry.get_token("a")
    assert emulator.request_count == 3
    assert clock.slept[0] == 2.0
    assert clock.slept[1] == pytest.approx(3.0, abs=0.01)


def test_retry_after_beyond_max_backoff_is_not_waited_for_but_honoured(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    # Issue 13: a capped wait would send the next request too early (tests/test_retry_after.py).
    emulator.fail_next(Fault.http(503, headers={"Retry-After": "3600"}))
    registry = make_registry({"a": profile(emulator, retries={"max_backoff": 1.5})}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("a")
    assert caught.value.retry_after == 3600
    assert clock.slept == [] and emulator.request_count == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_retryable_statuses_exhaust_the_budget(
    status: int, emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[Fault.http(status)] * 3)
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("a")
    error = caught.value
    assert (error.attempts, error.last_status, error.profile) == (3, status, "a")
    assert f"HTTP {status}" in str(error) and str(error).startswith("profile 'a': ")
    assert emulator.request_count == 3


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        (
            Fault.http(400, {"error": "invalid_request", "error_description": "bad"}),
            InvalidRequestError,
        ),
        (Fault.http(401, {"error": "invalid_client"}), InvalidClientError),
        (Fault.http(403, {"error": "access_denied"}), TokenRequestError),
        (Fault.http(400, {"error": "invalid_scope"}), InvalidScopeError),
    ],
)
def test_no_retry_on_client_errors(
    fault: Fault, error_class: type[Exception], emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(fault, Fault.http(500))
    registry = make_registry({"a": profile(emulator, auth_method="client_secret_basic")})
    with pytest.raises(error_class) as caught:
        registry.get_token("a")
    assert emulator.request_count == 1
    assert "profile 'a'" in str(caught.value)


def test_real_invalid_client_from_the_server(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {"a": profile(emulator, client_secret="wrong", auth_method="client_secret_basic")}
    )
    with pytest.raises(InvalidClientError) as caught:
        registry.get_token("a")
    assert caught.value.status == 401
    assert emulator.request_count == 1


def test_connection_reset_is_retried(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    emulator.fail_next(Fault.reset())
    registry = make_registry({"a": profile(emulator)})
    assert registry.get_token("a").access_token in emulator.issued_tokens
    assert emulator.request_count == 2


def test_connection_refused_is_retried_then_unavailable(
    make_registry: MakeRegistry, clock: FakeClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    data = {
        "provider": "generic",
        "token_url": f"http://127.0.0.1:{port}/t",
        "client_id": "c",
        "client_secret": "s",
    }
    registry = make_registry({"a": data}, clock=clock)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("a")
    assert caught.value.attempts == 4 and caught.value.last_status is None
    assert "refused" in str(caught.value).lower()
    assert len(clock.slept) == 3


def test_a_server_that_never_answers_is_bounded_by_the_read_timeout(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(Fault.hang(30), Fault.hang(30))
    registry = make_registry({"a": profile(emulator, timeout={"connect": 1, "read": 0.2})})
    assert registry.get_token("a").access_token in emulator.issued_tokens
    assert emulator.request_count == 3


def test_redirects_are_never_followed(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    with TokenEmulator([canary_client()]) as elsewhere:
        emulator.fail_next(Fault.http(307, {}, headers={"Location": elsewhere.token_url}))
        registry = make_registry({"a": profile(emulator)})
        with pytest.raises(TokenResponseError, match="redirected .* to 127.0.0.1"):
            registry.get_token("a")
        assert elsewhere.request_count == 0
        assert emulator.request_count == 1


def test_answers_are_capped_at_one_mebibyte(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(Fault.raw(b"x" * (3 * 1024 * 1024)))
    registry = make_registry({"a": profile(emulator)})
    with pytest.raises(TokenResponseError, match="larger than 1024 KiB"):
        registry.get_token("a")
    assert emulator.request_count == 1


def test_malformed_200_is_a_response_error_without_retry(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.fail_next(Fault.raw(b"<html>login</html>", content_type="text/html"))
    registry = make_registry({"a": profile(emulator)})
    with pytest.raises(TokenResponseError, match="text/html"):
        registry.get_token("a")
    assert emulator.request_count == 1


def test_profile_ca_bundle_wins_over_the_environment(
    tmp_path: Path, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certificates(tmp_path / "real")
    other = make_certificates(tmp_path / "other", common_name="some other CA")
    with TokenEmulator(
        [canary_client()], ssl_context=certs.server_context(), token_prefix=TOKEN_MARK
    ) as tls:
        assert tls.token_url.startswith("https://127.0.0.1:")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_path))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_path))
        registry = make_registry(
            {
                "pinned": profile(tls, ca_bundle=str(certs.ca_path)),
                "env": profile(tls, scopes=["other"]),  # another token: no cache sharing
            }
        )
        assert registry.get_token("pinned").access_token in tls.issued_tokens
        # Without its own bundle the profile follows the environment, which names the wrong
        # CA: verification fails, and a TLS failure is not retried.
        with pytest.raises(TokenEndpointUnavailableError, match="TLS failure") as caught:
            registry.get_token("env")
        assert caught.value.attempts == 1
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca_path))
        fresh = make_registry({"env": profile(tls, scopes=["other"])})
        assert fresh.get_token("env").access_token in tls.issued_tokens


def test_netrc_never_replaces_client_credentials(
    tmp_path: Path,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    registry = make_registry({"post": profile(emulator, auth_method="client_secret_post")})
    registry.get_token("post")
    assert "authorization" not in emulator.requests[0].headers


def test_secrets_are_read_at_first_use_and_again_after_invalid_client(
    tmp_path: Path, emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("rotated-away\n")
    registry = make_registry(
        {
            "a": profile(
                emulator,
                client_secret={"file": str(secret_file)},
                auth_method="client_secret_basic",
            )
        },
        clock=clock,
    )
    with pytest.raises(InvalidClientError):
        registry.get_token("a")
    with pytest.raises(InvalidClientError):  # read again, unchanged: within its cooldown
        registry.get_token("a")
    assert emulator.request_count == 1
    secret_file.write_text(SECRET + "\n")  # the operator rotates the secret; no restart
    clock.advance(1.0)
    # Read again (at most once a second during a cooldown): a new credential, so a new
    # cache key, not in the old credential's cooldown (docs/security.md, "Credential binding").
    assert registry.get_token("a").access_token in emulator.issued_tokens
    assert emulator.request_count == 2


def test_missing_secret_fails_before_any_request(
    emulator: TokenEmulator, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABSENT_SECRET", raising=False)
    registry = make_registry({"a": profile(emulator, client_secret={"env": "ABSENT_SECRET"})})
    with pytest.raises(
        SecretError, match="profiles.a.client_secret: environment variable ABSENT_SECRET is not set"
    ):
        registry.get_token("a")
    assert emulator.request_count == 0


def test_plain_http_to_a_remote_host_is_refused_at_request_time() -> None:
    import random

    from tokenrack.oauth.flow import FetchSettings, fetch_steps
    from tokenrack.oauth.message import TokenRequest
    from tokenrack.oauth.retry import RetryPolicy

    def flow() -> Any:
        yield TokenRequest(url="http://idp.example/token")

    settings = FetchSettings(
        authenticate=lambda r: r,
        policy=RetryPolicy(),
        clock=FakeClock(),
        rng=random.Random(),
        allow_insecure_http=False,
        profile="a",
    )
    with pytest.raises(ConfigError, match="refusing to send credentials over plain http"):
        next(fetch_steps(flow(), settings))


def test_fetches_are_logged_with_the_facts(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    emulator.fail_next(Fault.http(502))
    registry = make_registry({"billing": profile(emulator)}, clock=clock)
    with caplog.at_level(logging.INFO, logger="tokenrack"):
        registry.get_token("billing")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("tokenrack")]
    assert f"fetching token for profile billing from {emulator.token_url} (reason: cold)" in lines
    assert any("attempt 1 of 3 failed (HTTP 502)" in line for line in lines)
    done = [line for line in lines if line.startswith("got token for profile billing")]
    assert (
        done
        and "HTTP 200" in done[0]
        and "2 attempt(s)" in done[0]
        and "expires in 3600s" in done[0]
    )


def test_client_id_and_secret_reach_the_server_intact(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {
            "basic": profile(emulator),
            "post": profile(emulator, auth_method="client_secret_post", scopes=["x"]),
        }
    )
    registry.get_token("basic")
    registry.get_token("post")
    assert [(r.client_id, r.auth_method) for r in emulator.requests] == [
        (CLIENT_ID, "client_secret_basic"),
        (CLIENT_ID, "client_secret_post"),
    ]


def test_a_profile_is_assembled_once_and_shared_only_when_its_cache_is(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    registry = make_registry(
        {
            "mem": profile(emulator),
            "disk": profile(emulator, cache={"backend": "file", "path": str(tmp_path)}),
        }
    )
    assert registry.runtime("mem") is registry.runtime("mem")
    assert registry.shared_cache("mem") is None
    shared = registry.shared_cache("disk")
    assert shared is not None and shared.profile == "disk"
    assert registry.shared_cache("disk") is shared
    token = registry.get_token("disk")
    cached = registry.cached("disk")
    assert cached is not None and cached.token is token
    with pytest.raises(ConfigError, match="nosuch"):
        registry.cached("nosuch")


def test_the_deferred_transport_builds_requests_at_the_first_send(emulator: TokenEmulator) -> None:
    from tokenrack.http.deferred import DeferredTransport
    from tokenrack.oauth.message import EncodedRequest
    from tokenrack.oauth.transport import TransportOptions

    transport = DeferredTransport()
    assert repr(transport) == "DeferredTransport(built=False)"
    request = EncodedRequest(
        method="POST",
        url=emulator.token_url,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"grant_type=client_credentials",
    )
    # No credentials: the emulator answers 401 at once.
    assert transport.send(request, options=TransportOptions(), sent_at=0.0).status == 401
    assert repr(transport) == "DeferredTransport(built=True)"
    transport.close()
    assert repr(transport) == "DeferredTransport(built=False)"
    transport.close()  # closing twice is harmless


def test_a_registry_imports_requests_only_when_it_sends() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tokenrack.core.registry import Registry\n"
        "r = Registry.from_dict({'version': 1, 'profiles': {'a': {'provider': 'generic', "
        "'token_url': 'https://idp.example/token', 'client_id': 'c', 'client_secret': 's'}}})\n"
        "r.runtime('a')\n"
        "print('requests' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    ).stdout
    assert out.strip() == "False"
