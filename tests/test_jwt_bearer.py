"""``grant: jwt_bearer`` (RFC 7523 §2.1, issue 13) against the strict emulator personality."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidGrantError
from tokenrack.oauth.response import decode_jws_parts
from tokenrack.testing import TokenEmulator
from tokenrack.testing.jwt_bearer import JWT_BEARER, JwtBearerPersonality, jwt_bearer_client

from .keys import private_key, private_pem, public_pem

ISSUER = "integration-key-1"
USER = "alice@example.com"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwt.pem"
    path.write_text(private_pem("rsa"))
    path.chmod(0o600)
    return path


def start(personality: JwtBearerPersonality, *, kind: str = "rsa", **client: Any) -> TokenEmulator:
    return TokenEmulator(
        [jwt_bearer_client(ISSUER, public_pem(kind), **client)], personality=personality
    )


@pytest.fixture
def strict() -> Iterator[TokenEmulator]:
    with start(JwtBearerPersonality(subjects={ISSUER: [USER]})) as running:
        yield running


def profile(emulator: TokenEmulator, key_file: Path, **options: Any) -> dict[str, Any]:
    settings = {"subject": USER, **options.pop("jwt_bearer", {})}
    return {
        "provider": "generic",
        "grant": "jwt_bearer",
        "token_url": emulator.token_url,
        "allow_insecure_http": True,
        "client_id": ISSUER,
        "private_key": {"file": str(key_file)},
        "jwt_bearer": settings,
        **options,
    }


def claims_sent(emulator: TokenEmulator) -> dict[str, Any]:
    form = dict(emulator.requests[-1].form)
    decoded = decode_jws_parts(form["assertion"])
    assert decoded is not None
    return decoded[1]


def test_a_token_for_a_signed_assertion_without_client_authentication(
    strict: TokenEmulator, key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"p": profile(strict, key_file, scopes=["api"])})

    token = registry.get_token("p")

    assert token.access_token
    form = dict(strict.requests[-1].form)
    assert form["grant_type"] == JWT_BEARER
    assert form["scope"] == "api"
    assert "client_secret" not in form and "authorization" not in strict.requests[-1].headers
    claims = claims_sent(strict)
    assert claims["iss"] == ISSUER and claims["sub"] == USER
    assert claims["aud"] == strict.token_url
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]


def test_configured_claims_audience_lifetime_and_scope_in_the_assertion(
    key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    personality = JwtBearerPersonality(
        audiences={"account-d.example.com"}, subjects={ISSUER: [USER]}, scope_claim=True
    )
    with start(personality) as emulator:
        settings = {
            "audience": "account-d.example.com",
            "lifetime": 600,
            "claims": {"tenant": "acme"},
            "scopes_in": "claim",
        }
        registry = make_registry(
            {"p": profile(emulator, key_file, scopes=["a", "b"], jwt_bearer=settings)}
        )
        token = registry.get_token("p")
        claims = claims_sent(emulator)
        form = dict(emulator.requests[-1].form)

    assert token.scopes == ("a", "b")
    assert claims["aud"] == "account-d.example.com"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["tenant"] == "acme" and claims["scope"] == "a b"
    assert "scope" not in form


@pytest.mark.parametrize(("kind", "algorithm"), [("p256", "ES256"), ("rsa", "PS256")])
def test_es256_and_ps256(
    tmp_path: Path, kind: str, algorithm: str, make_registry: Callable[..., Registry]
) -> None:
    path = tmp_path / "key.pem"
    path.write_text(private_pem(kind))
    path.chmod(0o600)
    with start(JwtBearerPersonality(subjects={ISSUER: [USER]}), kind=kind) as emulator:
        registry = make_registry(
            {"p": profile(emulator, path, jwt_bearer={"algorithm": algorithm})}
        )
        registry.get_token("p")
        form = dict(emulator.requests[-1].form)
    header = decode_jws_parts(form["assertion"])
    assert header is not None and header[0]["alg"] == algorithm


def test_an_encrypted_key_with_its_passphrase(
    tmp_path: Path, strict: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "enc.pem"
    path.write_bytes(
        private_key("rsa").private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    path.chmod(0o600)
    registry = make_registry({"p": profile(strict, path, private_key_passphrase="open sesame")})
    assert registry.get_token("p").access_token


def test_a_wrong_audience_is_refused(
    strict: TokenEmulator, key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {"p": profile(strict, key_file, jwt_bearer={"audience": "https://elsewhere"})}
    )
    with pytest.raises(InvalidGrantError, match="aud"):
        registry.get_token("p")


def test_a_subject_the_issuer_may_not_act_as_is_refused(
    strict: TokenEmulator, key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {"p": profile(strict, key_file, jwt_bearer={"subject": "mallory@example.com"})}
    )
    with pytest.raises(InvalidGrantError, match="may not act as"):
        registry.get_token("p")


def test_the_strict_personality_refuses_expired_replayed_and_subjectless_assertions(
    strict: TokenEmulator,
) -> None:
    import time

    import requests

    from tokenrack.auth.signing import load_private_key, sign_jwt

    key = load_private_key(private_pem("rsa"), algorithm="RS256")
    now = int(time.time())

    def post(**claims: Any) -> dict[str, Any]:
        body = {"iss": ISSUER, "sub": USER, "aud": strict.token_url, "iat": now, "exp": now + 60}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        answer = requests.post(
            strict.token_url,
            data={"grant_type": JWT_BEARER, "assertion": sign_jwt(body, key)},
            timeout=5,
        )
        return {"status": answer.status_code, **answer.json()}

    expired = post(iat=now - 600, exp=now - 300)
    assert (expired["status"], expired["error"]) == (400, "invalid_grant")
    assert "expired" in expired["error_description"]
    no_subject = post(sub=None)
    assert no_subject["error_description"] == "sub is missing"
    assert post(jti="once")["status"] == 200
    replayed = post(jti="once")
    assert "replay" in replayed["error_description"]
    too_long = post(exp=now + 7200)
    assert too_long["error"] == "invalid_grant"


def test_client_authentication_is_configurable(
    key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    personality = JwtBearerPersonality(subjects={ISSUER: [USER]}, require_client_auth=True)
    with start(personality, client_secret="s3cret-value") as emulator:
        plain = make_registry({"p": profile(emulator, key_file)})
        with pytest.raises(Exception, match="invalid_client|client authentication"):
            plain.get_token("p")
        registry = make_registry(
            {
                "p": profile(
                    emulator,
                    key_file,
                    auth_method="client_secret_basic",
                    client_secret="s3cret-value",
                )
            }
        )
        assert registry.get_token("p").access_token
        assert emulator.requests[-1].headers["authorization"].startswith("Basic ")


def test_the_key_is_the_credential_in_the_cache_key(
    strict: TokenEmulator, key_file: Path, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    other = tmp_path / "other.pem"
    other.write_text(private_pem("rsa-other"))
    other.chmod(0o600)
    registry = make_registry(
        {
            "a": profile(strict, key_file),
            "same": profile(strict, key_file),
            "other_key": profile(strict, other),
            "other_subject": profile(strict, key_file, jwt_bearer={"subject": ISSUER}),
        }
    )
    keys = {name: registry.runtime(name).cache_key for name in ("a", "same", "other_key")}
    assert keys["a"] == keys["same"]
    assert keys["a"] != keys["other_key"]
    assert registry.runtime("other_subject").cache_key != keys["a"]


def test_config_errors_name_the_key(
    strict: TokenEmulator, key_file: Path, make_registry: Callable[..., Registry]
) -> None:
    missing_key = profile(strict, key_file)
    del missing_key["private_key"]
    reserved = profile(strict, key_file, jwt_bearer={"claims": {"exp": 1}})
    without_grant = profile(strict, key_file, client_secret="x")
    del without_grant["grant"]
    google = {
        "provider": "google",
        "grant": "jwt_bearer",
        "service_account": "a@b.iam.gserviceaccount.com",
        "service_account_key": {"env": "NOPE"},
        "scopes": ["x"],
    }
    for options, path, words in [
        (missing_key, "profiles.p.private_key", "private key"),
        (reserved, "profiles.p.jwt_bearer.claims", "exp"),
        (without_grant, "profiles.p.jwt_bearer", "only used with grant: jwt_bearer"),
        (google, "profiles.p.grant", "its own grant"),
    ]:
        with pytest.raises(ConfigError) as raised:
            make_registry({"p": options}).get_token("p")
        assert any(p.path == path and words in p.message for p in raised.value.problems), (
            raised.value.problems
        )


def test_an_unreadable_key_is_named_not_quoted(
    strict: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    path = tmp_path / "bad.pem"
    path.write_text(json.dumps({"not": "a key"}))
    path.chmod(0o600)
    registry = make_registry({"p": profile(strict, path)})
    with pytest.raises(ConfigError) as raised:
        registry.get_token("p")
    assert "profiles.p.private_key" in str(raised.value)
    assert "a key" not in str(raised.value)  # the file is named, never quoted


def test_a_key_rotated_after_invalid_grant_is_read_again(
    tmp_path: Path, make_registry: Callable[..., Registry], clock: Any
) -> None:
    path = tmp_path / "rotating.pem"
    path.write_text(private_pem("rsa-other"))  # not the key the server knows
    path.chmod(0o600)
    with start(JwtBearerPersonality(subjects={ISSUER: [USER]})) as emulator:
        registry = make_registry({"p": profile(emulator, path)}, clock=clock)
        with pytest.raises(InvalidGrantError):
            registry.get_token("p")
        path.write_text(private_pem("rsa"))  # rotated under the same file
        clock.advance(120)  # past the failure backoff
        assert registry.get_token("p").access_token


def test_a_shared_file_cache_serves_the_token_only_to_holders_of_the_key(
    strict: TokenEmulator, key_file: Path, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    other = tmp_path / "other.pem"
    other.write_text(private_pem("rsa-other"))
    other.chmod(0o600)
    cache = {"backend": "file", "path": str(tmp_path / "cache")}
    first = make_registry({"p": profile(strict, key_file, cache=cache)})
    token = first.get_token("p")
    assert strict.request_count == 1

    # Another process with the same key: served from the file cache, no request.
    same = make_registry({"p": profile(strict, key_file, cache=cache)})
    assert same.get_token("p").access_token == token.access_token
    assert strict.request_count == 1

    # A profile alike in every claim but holding another key is not served that token.
    foreign = make_registry({"p": profile(strict, other, cache=cache)})
    with pytest.raises(InvalidGrantError):
        foreign.get_token("p")
    assert strict.request_count == 2


def test_the_cli_gets_a_token_and_explains_the_grant_without_the_key(
    strict: TokenEmulator, key_file: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    import yaml

    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"p": profile(strict, key_file)}}))
    tokenrack = str(Path(sys.executable).parent / "tokenrack")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tokenrack, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    token = run("token", "p")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip() == strict.issued_tokens[-1]
    explained = run("explain", "p")
    assert "auth method: none (the default of grant: jwt_bearer)" in explained.stdout
    assert "assertion=***" in explained.stdout
    key_body = private_pem("rsa").splitlines()[1]
    assert key_body not in explained.stdout + explained.stderr
