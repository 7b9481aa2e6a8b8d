"""``auth_method: client_assertion``: an assertion from outside, re-read at every fetch (issue 13)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.keys import private_key, public_pem
from tokenrack import Registry
from tokenrack.errors import ConfigError, InvalidClientError, SecretError
from tokenrack.testing import EmulatorClient, TokenEmulator
from tokenrack.testing.federated import FederatedCredential, FederatedPersonality

ISSUER = "https://kubernetes.default.svc.cluster.local"
SUBJECT = "system:serviceaccount:billing:worker"
AUDIENCE = "api://AzureADTokenExchange"
CLIENT = "workload-client"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def federated_token(
    *,
    issuer: str = ISSUER,
    subject: str = SUBJECT,
    audience: str = AUDIENCE,
    lifetime: float = 3600,
    issued: float | None = None,
) -> str:
    """A token as the cluster would project it, signed with the cluster's key."""
    now = int(time.time() if issued is None else issued)
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": [audience],
        "iat": now,
        "nbf": now,
        "exp": now + int(lifetime),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key("rsa"), algorithm="RS256", headers={"kid": "cluster"})


def credential(**changes: Any) -> FederatedCredential:
    values: dict[str, Any] = {
        "client_id": CLIENT,
        "issuer": ISSUER,
        "subject": SUBJECT,
        "audience": AUDIENCE,
        "public_key": public_pem("rsa"),
    }
    values.update(changes)
    return FederatedCredential(**values)


@pytest.fixture
def federated() -> Iterator[TokenEmulator]:
    """A strict server trusting the cluster's tokens for CLIENT (refusing replays)."""
    personality = FederatedPersonality([credential()])
    with TokenEmulator([EmulatorClient(CLIENT)], personality=personality) as running:
        yield running


def assertion_profile(emulator: TokenEmulator, source: Any, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT,
        "auth_method": "client_assertion",
        "client_assertion": source,
        "retries": {"attempts": 1},
        **options,
    }


def test_the_assertion_file_is_sent_as_a_jwt_bearer_client_assertion(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token() + "\n")
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    assert registry.get_token("k8s").access_token
    sent = federated.requests[0]
    assert sent.auth_method == "client_assertion"
    form = dict(sent.form)
    assert form["client_assertion_type"] == TYPE
    assert form["client_assertion"] == token_file.read_text().strip()
    assert form["client_id"] == CLIENT
    assert "client_secret" not in form


def test_the_file_is_read_again_at_every_fetch(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token())
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    first = registry.get_token("k8s").access_token
    rotated = federated_token()
    token_file.write_text(rotated)  # the kubelet rotates it
    second = registry.get_token("k8s", force_refresh=True).access_token
    assert first != second
    assert dict(federated.requests[1].form)["client_assertion"] == rotated


def test_the_cache_key_names_the_source_not_the_rotating_value(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token())
    other_file = tmp_path / "other"
    other_file.write_text(federated_token())
    profiles = {
        "a": assertion_profile(federated, {"file": str(token_file)}),
        "same": assertion_profile(federated, {"file": str(token_file)}),
        "other": assertion_profile(federated, {"file": str(other_file)}),
    }
    registry = make_registry(profiles)
    before = registry.runtime("a").cache_key
    token_file.write_text(federated_token())
    registry2 = make_registry(profiles)
    # Rotation does not change the key (the in-process fingerprint key is per process, so
    # two registries agree); reading another file (another identity) does.
    assert registry2.runtime("a").cache_key == before
    assert registry.runtime("same").cache_key == before
    assert registry.runtime("other").cache_key != before
    for part in registry.runtime("a").cache_key_parts.values():
        assert token_file.read_text() not in part


def test_auto_picks_client_assertion_when_it_is_set(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token())
    profile = assertion_profile(federated, {"file": str(token_file)}, auth_method="auto")
    registry = make_registry({"k8s": profile})
    registry.get_token("k8s")
    assert federated.requests[0].auth_method == "client_assertion"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (lambda: federated_token(audience="api://elsewhere"), "audience"),
        (lambda: federated_token(issuer="https://other-cluster"), "issuer"),
        (lambda: federated_token(subject="system:serviceaccount:billing:intruder"), "subject"),
    ],
)
def test_the_strict_personality_refuses_what_the_server_refuses(
    federated: TokenEmulator,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
    token: Callable[[], str],
    why: str,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token())
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    with pytest.raises(InvalidClientError) as raised:
        registry.get_token("k8s")
    assert why in str(raised.value)
    assert token_file.read_text() not in str(raised.value)


def test_the_strict_personality_refuses_a_replay_a_wrong_type_and_an_expired_assertion(
    federated: TokenEmulator,
) -> None:
    import urllib.error
    import urllib.parse
    import urllib.request

    assertion = federated_token()
    expired = federated_token(issued=time.time() - 7200)

    def post(kind: str, assertion: str = assertion) -> str:
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT,
                "client_assertion_type": kind,
                "client_assertion": assertion,
            }
        ).encode()
        try:
            with urllib.request.urlopen(federated.token_url, data=body, timeout=10) as answer:
                return str(answer.status)
        except urllib.error.HTTPError as error:
            with error:
                return f"{error.code} {json.load(error)['error_description']}"

    assert post("urn:ietf:params:oauth:client-assertion-type:saml2-bearer").startswith(
        "401 client assertion refused (type)"
    )
    assert post(TYPE) == "200"
    assert post(TYPE).startswith("401 client assertion refused (replay)")  # the same jti
    assert post(TYPE, expired).startswith("401 client assertion refused (lifetime)")


def test_an_expired_assertion_is_reported_with_its_source_before_sending(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(issued=time.time() - 7200))
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    with pytest.raises(ConfigError) as raised:
        registry.get_token("k8s")
    message = str(raised.value)
    assert "expired" in message and str(token_file) in message
    assert federated.request_count == 0


def test_a_refused_assertion_is_read_again_and_retried_before_any_cooldown(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    """The file held an assertion the server refuses; by the retry it has been rotated."""
    token_file = tmp_path / "token"
    stale = federated_token(audience="api://stale")
    token_file.write_text(stale)
    fresh = federated_token()
    original = federated.personality.authenticate

    def rotate_after_first(emulator: TokenEmulator, exchange: Any) -> Any:
        verdict = original(emulator, exchange)
        token_file.write_text(fresh)  # what the kubelet does meanwhile
        return verdict

    federated.personality.authenticate = rotate_after_first  # type: ignore[method-assign]
    registry = make_registry(
        {"k8s": assertion_profile(federated, {"file": str(token_file)}, refusal_cooldown=600)}
    )
    assert registry.get_token("k8s").access_token
    sent = [dict(r.form)["client_assertion"] for r in federated.requests]
    assert sent == [stale, fresh]


def test_a_second_refusal_is_not_retried_again(
    federated: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(audience="api://wrong"))
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    with pytest.raises(InvalidClientError):
        registry.get_token("k8s")
    assert federated.request_count == 2
    with pytest.raises(InvalidClientError):
        registry.get_token("k8s")
    assert federated.request_count == 2  # now the cooldown applies


def test_the_assertion_never_appears_in_logs_or_explain(
    federated: TokenEmulator,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "token"
    assertion = federated_token(audience="api://wrong")
    token_file.write_text(assertion)
    registry = make_registry({"k8s": assertion_profile(federated, {"file": str(token_file)})})
    with pytest.raises(InvalidClientError) as raised:
        registry.get_token("k8s")
    assert assertion not in caplog.text
    assert assertion.split(".")[2] not in caplog.text
    assert assertion not in repr(raised.value) and assertion not in str(raised.value)
    assert assertion not in repr(registry.runtime("k8s"))


# -- github_oidc ---------------------------------------------------------------------------


class _Runner(BaseHTTPRequestHandler):
    """The Actions runtime's ID token endpoint, as the runner serves it."""

    token = "runner-request-token"
    issued: list[str] = []
    asked: list[str] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        audience = self.path.split("audience=", 1)[1] if "audience=" in self.path else ""
        value = federated_token(
            issuer="https://token.actions.githubusercontent.com",
            subject="repo:acme/billing:ref:refs/heads/main",
            audience=audience.replace("%3A", ":").replace("%2F", "/"),
            lifetime=300,
        )
        type(self).issued.append(value)
        body = json.dumps({"count": 1, "value": value}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def runner() -> Iterator[str]:
    _Runner.issued, _Runner.asked = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Runner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/idtoken?api-version=2.0"
    finally:
        server.shutdown()
        server.server_close()


def test_github_oidc_asks_the_runner_at_every_fetch(
    runner: str, make_registry: Callable[..., Registry]
) -> None:
    personality = FederatedPersonality(
        [
            credential(
                issuer="https://token.actions.githubusercontent.com",
                subject="repo:acme/billing:ref:refs/heads/main",
            )
        ]
    )
    environ = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": runner,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": _Runner.token,
    }
    with TokenEmulator([EmulatorClient(CLIENT)], personality=personality) as server:
        source = {"github_oidc": {"audience": AUDIENCE}}
        registry = make_registry({"ci": assertion_profile(server, source)}, environ=environ)
        registry.get_token("ci")
        registry.get_token("ci", force_refresh=True)
        assert [dict(r.form)["client_assertion"] for r in server.requests] == _Runner.issued
        assert len(_Runner.issued) == 2
        assert all(
            path.endswith("&audience=api%3A%2F%2FAzureADTokenExchange") for path in _Runner.asked
        )


def test_github_oidc_outside_a_workflow_says_what_to_set(
    federated: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {"ci": assertion_profile(federated, {"github_oidc": {"audience": AUDIENCE}})},
        environ={},
    )
    with pytest.raises(SecretError) as raised:
        registry.get_token("ci")
    assert "id-token: write" in str(raised.value)
    assert "profiles.ci.client_assertion" in str(raised.value)


def test_github_oidc_refused_by_the_runner_never_shows_the_request_token(
    runner: str, federated: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    environ = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": runner,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-request-token",
    }
    registry = make_registry(
        {"ci": assertion_profile(federated, {"github_oidc": {"audience": AUDIENCE}})},
        environ=environ,
    )
    with pytest.raises(SecretError) as raised:
        registry.get_token("ci")
    assert "HTTP 401" in str(raised.value)
    assert "wrong-request-token" not in str(raised.value)


def test_two_registries_reading_the_same_file_share_one_token_through_redis_across_rotations(
    federated: TokenEmulator,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
    redis_url: str,
    redis_prefix: str,
) -> None:
    """Keys bind the source (scrypt over it for plaintext Redis, the same in every process)."""
    token_file = tmp_path / "token"
    token_file.write_text(federated_token())
    cache = {"backend": "redis", "plaintext": True, "url": redis_url, "key_prefix": redis_prefix}
    profile = assertion_profile(federated, {"file": str(token_file)}, cache=cache)
    first = make_registry({"k8s": profile}).get_token("k8s").access_token
    token_file.write_text(federated_token())  # rotated before the second process starts
    second = make_registry({"k8s": profile}).get_token("k8s").access_token
    assert second == first and federated.request_count == 1
    other_file = tmp_path / "other"
    other_file.write_text(federated_token())
    other = assertion_profile(federated, {"file": str(other_file)}, cache=cache)
    assert make_registry({"k8s": other}).get_token("k8s").access_token != first
    assert federated.request_count == 2
