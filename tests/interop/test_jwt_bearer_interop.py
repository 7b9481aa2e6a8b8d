"""``grant: jwt_bearer`` against Authlib's ``JWTBearerGrant`` (RFC 7523 §2.1, issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.keys import private_pem, public_pem
from tokenrack.core.registry import Registry
from tokenrack.errors import TokenRequestError

pytest.importorskip("authlib", reason="the dev extra installs authlib")

ISSUER = "tokenrack-signer"
USER = "alice"


@pytest.fixture
def authlib_jwt_bearer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Start Authlib JWT-bearer servers; stopped after the test."""
    from tests.interop.authlib_jwt_bearer import Issuer, RunningJwtBearer

    # Authlib refuses plain http unless told it is a test; the server is on loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    running: list[RunningJwtBearer] = []

    def start(kind: str = "rsa", audiences: list[str] | None = None) -> Any:
        server = RunningJwtBearer(
            [
                Issuer(
                    ISSUER, public_pem(kind), "EC" if kind == "p256" else "RSA", frozenset({USER})
                )
            ],
            audiences,
        )
        running.append(server)
        return server.server

    yield start
    for server in running:
        server.stop()


def key_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pem"
    path.write_text(private_pem(kind))
    path.chmod(0o600)
    return path


def profile(url: str, key: Path, **settings: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "grant": "jwt_bearer",
        "token_url": url,
        "allow_insecure_http": True,
        "client_id": ISSUER,
        "private_key": {"file": str(key)},
        "scopes": ["read"],
        "jwt_bearer": {"subject": USER, **settings},
    }


@pytest.mark.parametrize(("kind", "algorithm"), [("rsa", "RS256"), ("p256", "ES256")])
def test_authlib_issues_a_token_for_our_assertion(
    authlib_jwt_bearer: Callable[..., Any],
    make_registry: Callable[..., Registry],
    tmp_path: Path,
    kind: str,
    algorithm: str,
) -> None:
    server = authlib_jwt_bearer(kind)
    registry = make_registry(
        {"p": profile(server.token_url, key_file(tmp_path, kind), algorithm=algorithm)}
    )

    token = registry.get_token("p")

    assert server.answers[-1][0] == 200
    assert token.access_token == server.answers[-1][1]["access_token"]
    assert token.scopes == ("read",)


def test_authlib_checks_the_audience_we_configure(
    authlib_jwt_bearer: Callable[..., Any],
    make_registry: Callable[..., Registry],
    tmp_path: Path,
) -> None:
    server = authlib_jwt_bearer(audiences=["https://as.example"])
    key = key_file(tmp_path, "rsa")
    wrong = make_registry({"p": profile(server.token_url, key)})
    with pytest.raises(TokenRequestError) as refused:
        wrong.get_token("p")
    assert refused.value.error == "invalid_grant"

    right = make_registry({"p": profile(server.token_url, key, audience="https://as.example")})
    assert right.get_token("p").access_token


def test_authlib_refuses_a_key_it_does_not_know_and_a_foreign_subject(
    authlib_jwt_bearer: Callable[..., Any],
    make_registry: Callable[..., Registry],
    tmp_path: Path,
) -> None:
    server = authlib_jwt_bearer()
    other = key_file(tmp_path, "rsa-other")
    with pytest.raises(TokenRequestError) as bad_key:
        make_registry({"p": profile(server.token_url, other)}).get_token("p")
    assert bad_key.value.error == "invalid_grant"

    mine = key_file(tmp_path, "rsa")
    with pytest.raises(TokenRequestError) as bad_user:
        make_registry({"p": profile(server.token_url, mine, subject="mallory")}).get_token("p")
    assert bad_user.value.error == "invalid_grant"
