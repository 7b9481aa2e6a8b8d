"""client_secret_jwt and private_key_jwt: request shape, independent verification, emulator."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, profile
from tests.keys import jwk, private_pem, public_pem
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator
from tokenrack.testing.assertions import load_public_key, verify_assertion
from tokenrack.testing.tls import make_certificates

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MakeRegistry = Callable[..., Registry]
TOKEN_URL = "https://idp.test/oauth2/token"


def header_of(assertion: str) -> dict[str, Any]:
    part = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def sent_forms() -> list[dict[str, str]]:
    return [dict(parse_qsl(call.request.body.decode())) for call in responses.calls]


def registry_for(**options: Any) -> Registry:
    base = {"provider": "generic", "token_url": TOKEN_URL, "client_id": "svc-1", **options}
    return Registry.from_dict({"version": 1, "profiles": {"a": base}})


@pytest.mark.parametrize(
    ("kind", "alg"),
    [
        ("rsa", "RS256"),
        ("rsa", "PS256"),
        ("p256", "ES256"),
        ("p384", "ES384"),
        ("ed25519", "EdDSA"),
    ],
)
@responses.activate
def test_private_key_jwt_request_shape_verified_independently(
    kind: str, alg: str, tmp_path: Path
) -> None:
    responses.post(TOKEN_URL, json={"access_token": "t", "expires_in": 60})
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_pem(kind))
    registry = registry_for(
        auth_method="private_key_jwt", private_key=str(key_file), signing_alg=alg, key_id="k-1"
    )
    registry.get_token("a")
    registry.get_token("a", force_refresh=True)
    forms = sent_forms()
    assert [sorted(f) for f in forms] == [
        ["client_assertion", "client_assertion_type", "client_id", "grant_type"]
    ] * 2
    assert forms[0]["client_assertion_type"] == ASSERTION_TYPE and forms[0]["client_id"] == "svc-1"
    assert "Authorization" not in responses.calls[0].request.headers
    seen: set[str] = set()
    for form in forms:
        verified = verify_assertion(
            form["client_assertion"],
            key=load_public_key(public_pem(kind)),
            client_id="svc-1",
            audiences={TOKEN_URL},
            algorithms={alg},
            seen_jti=seen,
        )
        claims = verified.claims
        # Five minutes by default, iat and nbf set back 30 s for a host clock running ahead.
        assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
        assert time.time() - 40 < claims["iat"] <= time.time() - 29
        assert verified.header == {"alg": alg, "typ": "JWT", "kid": "k-1"}
    assert len(seen) == 2  # a fresh jti for every request


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@responses.activate
def test_client_secret_jwt_is_hmac_over_the_secret(alg: str) -> None:
    responses.post(TOKEN_URL, json={"access_token": "t", "expires_in": 60})
    registry = registry_for(
        auth_method="client_secret_jwt",
        client_secret="shared-hmac-secret",
        signing_alg=alg,
        assertion_lifetime=30,
        assertion_audience="https://idp.test",
    )
    registry.get_token("a")
    (form,) = sent_forms()
    assert "client_secret" not in form
    verified = verify_assertion(
        form["client_assertion"],
        key=b"shared-hmac-secret",
        client_id="svc-1",
        audiences={"https://idp.test"},
        algorithms={alg},
    )
    assert verified.claims["exp"] - verified.claims["iat"] == 30
    with pytest.raises(ValueError, match="signature"):
        verify_assertion(
            form["client_assertion"],
            key=b"other",
            client_id="svc-1",
            audiences={"https://idp.test"},
            algorithms={alg},
        )


@responses.activate
def test_kid_from_the_jwk_and_x5t_from_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses.post(TOKEN_URL, json={"access_token": "t", "expires_in": 60})
    certs = make_certificates(tmp_path)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    expected = (
        base64.urlsafe_b64encode(
            x509.load_pem_x509_certificate(certs.cert_path.read_bytes()).fingerprint(
                hashes.SHA256()
            )
        )
        .rstrip(b"=")
        .decode()
    )
    monkeypatch.setenv("SVC_JWK", jwk("p256", private=True, kid="jwk-kid"))
    registry = registry_for(
        auth_method="private_key_jwt",
        private_key={"env": "SVC_JWK"},
        certificate=str(certs.cert_path),
    )
    registry.get_token("a")
    header = header_of(sent_forms()[0]["client_assertion"])
    assert header["kid"] == "jwk-kid" and header["alg"] == "ES256"
    assert header["x5t#S256"] == expected


@pytest.mark.parametrize(
    ("choice", "headers"),
    [("x5t#S256", {"x5t#S256"}), ("x5t", {"x5t"}), ("both", {"x5t#S256", "x5t"})],
)
@responses.activate
def test_thumbprint_header_picks_sha256_sha1_or_both(
    choice: str, headers: set[str], tmp_path: Path
) -> None:
    responses.post(TOKEN_URL, json={"access_token": "t", "expires_in": 60})
    certs = make_certificates(tmp_path)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certificate = x509.load_pem_x509_certificate(certs.cert_path.read_bytes())
    expected = {
        "x5t#S256": certificate.fingerprint(hashes.SHA256()),
        "x5t": certificate.fingerprint(hashes.SHA1()),
    }
    registry = registry_for(
        auth_method="private_key_jwt",
        private_key=str(certs.key_path),
        certificate=str(certs.cert_path),
        thumbprint_header=choice,
    )
    registry.get_token("a")
    header = header_of(sent_forms()[0]["client_assertion"])
    assert {name for name in header if name.startswith("x5t")} == headers
    for name in headers:
        assert header[name] == base64.urlsafe_b64encode(expected[name]).rstrip(b"=").decode()


def test_thumbprint_header_is_checked_by_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.a\.thumbprint_header"):
        registry_for(
            auth_method="private_key_jwt", private_key="/k.pem", thumbprint_header="x5t#S1"
        ).runtime("a")


def test_key_that_does_not_fit_the_algorithm(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text(private_pem("p256"))
    registry = registry_for(
        auth_method="private_key_jwt", private_key=str(tmp_path / "k.pem"), signing_alg="RS256"
    )
    with pytest.raises(
        ConfigError,
        match=r"profiles.a.private_key: key file \S+/k.pem: signing_alg RS256 does not fit "
        r"this key \(use ES256\)",
    ):
        registry.get_token("a")


def test_garbage_key_material_is_never_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_KEY", "not a key but something secret-ish")
    registry = registry_for(auth_method="private_key_jwt", private_key={"env": "SVC_KEY"})
    with pytest.raises(ConfigError) as caught:
        registry.get_token("a")
    assert "secret-ish" not in str(caught.value)
    assert "profiles.a.private_key" in str(caught.value)


def test_material_is_required_by_the_schema() -> None:
    with pytest.raises(
        ConfigError,
        match="profiles.a.private_key: required by auth method 'private_key_jwt', but missing",
    ):
        registry_for(auth_method="private_key_jwt").runtime("a")


def test_missing_jwt_extra_names_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['jwt'] = None\n"
        "from tokenrack import Registry, ConfigError\n"
        "try:\n"
        "    Registry.from_dict({'version': 1, 'profiles': {'a': {'provider': 'generic',\n"
        "        'token_url': 'https://idp.test/t', 'client_id': 'c', 'private_key': '/k.pem',\n"
        "        'auth_method': 'private_key_jwt'}}}).runtime('a')\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (
        "private_key_jwt needs the tokenrack[jwt] extra: pip install 'tokenrack[jwt]'"
        in done.stdout
    )


# -- against the emulator ------------------------------------------------------------------


@pytest.fixture
def jwt_emulator() -> Any:
    clients = [
        EmulatorClient("rsa-client", public_key=public_pem("rsa")),
        EmulatorClient("ed-client", public_key=jwk("ed25519", private=False)),
        EmulatorClient(CLIENT_ID, SECRET, auth_methods=frozenset({"client_secret_jwt"})),
    ]
    with TokenEmulator(clients, token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("client", "kind", "alg"),
    [
        ("rsa-client", "rsa", "PS256"),
        ("rsa-client", "rsa", "RS256"),
        ("ed-client", "ed25519", "EdDSA"),
    ],
)
def test_private_key_jwt_against_the_emulator(
    client: str,
    kind: str,
    alg: str,
    jwt_emulator: TokenEmulator,
    make_registry: MakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLIENT_KEY", private_pem(kind))
    registry = make_registry(
        {
            "a": profile(
                jwt_emulator,
                client_id=client,
                auth_method="private_key_jwt",
                private_key={"env": "CLIENT_KEY"},
                signing_alg=alg,
                client_secret=None,
            )
            | {"client_secret": "unused"}
        }
    )
    assert registry.get_token("a").access_token in jwt_emulator.issued_tokens
    assert jwt_emulator.requests[0].auth_method == "private_key_jwt"


def test_client_secret_jwt_against_the_emulator(
    jwt_emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": profile(jwt_emulator, auth_method="client_secret_jwt")})
    assert registry.get_token("a").access_token in jwt_emulator.issued_tokens
    assert jwt_emulator.requests[0].auth_method == "client_secret_jwt"


def test_every_retry_carries_a_fresh_assertion(
    jwt_emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    jwt_emulator.fail_next(Fault.http(503), Fault.http(502))
    registry = make_registry({"a": profile(jwt_emulator, auth_method="client_secret_jwt")})
    registry.get_token("a")
    assertions = [r.form_value("client_assertion") for r in jwt_emulator.requests]
    assert len(assertions) == 3 and len(set(assertions)) == 3  # the server would refuse a replay


def test_the_emulator_refuses_a_replayed_assertion(
    jwt_emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    import requests

    registry = make_registry({"a": profile(jwt_emulator, auth_method="client_secret_jwt")})
    registry.get_token("a")
    replay = dict(jwt_emulator.requests[0].form)
    answer = requests.post(jwt_emulator.token_url, data=replay, timeout=5)
    assert answer.status_code == 401
    assert "replay" in answer.json()["error_description"]


def test_wrong_key_and_wrong_audience_are_refused(
    jwt_emulator: TokenEmulator, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_KEY", private_pem("rsa-other"))
    registry = make_registry(
        {
            "wrong-key": profile(
                jwt_emulator,
                client_id="rsa-client",
                auth_method="private_key_jwt",
                private_key={"env": "WRONG_KEY"},
            ),
            "wrong-aud": profile(
                jwt_emulator,
                auth_method="client_secret_jwt",
                assertion_audience="https://elsewhere",
            ),
        }
    )
    with pytest.raises(InvalidClientError, match="signature does not verify"):
        registry.get_token("wrong-key")
    with pytest.raises(InvalidClientError, match="aud"):
        registry.get_token("wrong-aud")


def test_assertions_never_reach_logs_or_errors(
    jwt_emulator: TokenEmulator, make_registry: MakeRegistry, leak_guard: Any
) -> None:
    registry = make_registry({"a": profile(jwt_emulator, auth_method="client_secret_jwt")})
    registry.get_token("a")
    assertion = jwt_emulator.requests[0].form_value("client_assertion")
    assert assertion and not any(assertion in line for line in leak_guard.lines)
    digest = hashlib.sha256(assertion.encode()).hexdigest()
    assert digest  # the assertion existed; the guard above proved it was never logged


# -- loading keys: JWK and PEM, each on its own ------------------------------------------


def test_load_jwk_takes_alg_and_kid_from_the_jwk_unless_given() -> None:
    from tokenrack.auth.signing import _load_jwk

    text = jwk("p256", private=True, kid="k-1")
    _, algorithm, key_id = _load_jwk(text, algorithm=None, key_id=None)
    assert (algorithm, key_id) == ("ES256", "k-1")
    _, algorithm, key_id = _load_jwk(text, algorithm="ES256", key_id="mine")
    assert (algorithm, key_id) == ("ES256", "mine")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a usable JWK"),
        (jwk("rsa", private=False), "the JWK holds no private key"),
    ],
)
def test_load_jwk_refuses(text: str, message: str) -> None:
    from tokenrack.auth.signing import KeyMaterialError, _load_jwk

    with pytest.raises(KeyMaterialError, match=message):
        _load_jwk(text, algorithm=None, key_id=None)


def test_load_pem_with_and_without_a_passphrase() -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.keys import private_key
    from tokenrack.auth.signing import KeyMaterialError, _load_pem

    assert hasattr(_load_pem(private_pem("rsa"), passphrase=None), "sign")
    encrypted = (
        private_key("rsa")
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
        .decode()
    )
    assert hasattr(_load_pem(encrypted, passphrase="pass"), "sign")
    with pytest.raises(KeyMaterialError, match="encrypted and no passphrase"):
        _load_pem(encrypted, passphrase=None)
    with pytest.raises(KeyMaterialError, match="passphrase is wrong"):
        _load_pem(encrypted, passphrase="wrong")
    with pytest.raises(KeyMaterialError, match="not encrypted"):
        _load_pem(private_pem("rsa"), passphrase="pass")
