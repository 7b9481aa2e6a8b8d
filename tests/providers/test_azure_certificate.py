"""Entra certificate credentials: the azure provider with private_key_jwt, strictly checked.

The Entra personality finds the client's registered certificate by the assertion's
thumbprint header, verifies the signature with that certificate's public key (with
tokenrack.testing.assertions, not PyJWT), and refuses like Entra, AADSTS codes included.
Keys and certificates are made in the test run.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from tokenrack_providers.testing.personalities import EntraPersonality

from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError, UnauthorizedClientError
from tokenrack.testing import EmulatorClient, TokenEmulator
from tokenrack.testing.assertions import load_public_key, verify_assertion
from tokenrack.testing.tls import ClientCertificateFiles, TestCertificates, make_client_certificate

GRAPH = "https://graph.microsoft.com"
APP = "6731de76-14a6-49ae-97bc-6eba6914391e"
TENANT = "contoso.onmicrosoft.com"
MakeRegistry = Callable[..., Registry]


def decode(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture(scope="module")
def app_cert(tmp_path_factory: pytest.TempPathFactory) -> ClientCertificateFiles:
    """The certificate uploaded to the app registration, and its RSA key."""
    return make_client_certificate(
        tmp_path_factory.mktemp("entra"), common_name="graph-app", key_type="rsa"
    )


@pytest.fixture(scope="module")
def other_cert(tmp_path_factory: pytest.TempPathFactory) -> ClientCertificateFiles:
    """A certificate the app never registered."""
    return make_client_certificate(
        tmp_path_factory.mktemp("entra-other"), common_name="not-registered", key_type="rsa"
    )


def start_entra(
    start: StartEmulator, cert: ClientCertificateFiles, **personality: Any
) -> TokenEmulator:
    client = EmulatorClient(APP, public_key=cert.cert_path.read_text())
    return start(EntraPersonality(**personality), [client])


def cert_profile(
    certs: TestCertificates, emulator: TokenEmulator, key: Path, cert: Path, **options: Any
) -> dict[str, Any]:
    profile = vendor_profile(
        certs,
        "azure",
        tenant=TENANT,
        authority_host=emulator.url,
        client_id=APP,
        auth_method="private_key_jwt",
        private_key=str(key),
        certificate=str(cert),
        resource=GRAPH,
        **options,
    )
    profile.pop("client_secret")
    return profile


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_certificate_credential_gets_a_token(
    alg: str,
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start_entra(start, app_cert)
    profile = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path, signing_alg=alg)
    token = make_registry({"graph": profile}).get_token("graph")
    assert token.access_token in emulator.issued_tokens
    (sent,) = emulator.requests
    assert sent.auth_method == "private_key_jwt"
    assert sent.form_value("client_id") == APP
    assert sent.form_value("client_secret") is None
    assert sent.form_value("scope") == f"{GRAPH}/.default"
    assertion = sent.form_value("client_assertion") or ""
    header = decode(assertion.split(".")[0])
    assert header["x5t#S256"] == app_cert.thumbprint and header["alg"] == alg
    token_url = f"{emulator.url}/{TENANT}/oauth2/v2.0/token"
    verified = verify_assertion(
        assertion,
        key=load_public_key(app_cert.cert_path.read_text()),
        client_id=APP,
        audiences={token_url},
        algorithms={alg},
    )
    assert verified.claims["aud"] == token_url


def refusal(registry: Registry) -> InvalidClientError:
    with pytest.raises(InvalidClientError) as caught:
        registry.get_token("graph")
    error = caught.value
    assert error.details["trace_id"] and error.details["correlation_id"]
    assert error.error_description is not None
    return error


def test_unregistered_certificate_gets_aadsts700027(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    other_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start_entra(start, app_cert)
    profile = cert_profile(certs, emulator, other_cert.key_path, other_cert.cert_path)
    error = refusal(make_registry({"graph": profile}))
    assert error.details["error_codes"] == "700027"
    assert "is not registered on application" in (error.error_description or "")
    # The thumbprint Entra quotes is shaped like an opaque token: masked, as any such run in
    # a server's error text is (issue 10, F7); the certificate is named by the profile.
    assert "Thumbprint of key used by client: '***'" in (error.error_description or "")


def test_right_certificate_wrong_key_is_an_invalid_signature(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    other_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start_entra(start, app_cert)
    profile = cert_profile(certs, emulator, other_cert.key_path, app_cert.cert_path)
    error = refusal(make_registry({"graph": profile}))
    assert error.details["error_codes"] == "700027"
    assert "invalid signature" in (error.error_description or "")


def test_missing_thumbprint_gets_aadsts50027(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    # The azure provider always sends the certificate's thumbprint (it requires
    # `certificate`); a generic profile pointed at Entra shows what Entra says without it.
    emulator = start_entra(start, app_cert)
    profile = vendor_profile(
        certs,
        "generic",
        token_url=f"{emulator.url}/{TENANT}/oauth2/v2.0/token",
        client_id=APP,
        auth_method="private_key_jwt",
        private_key=str(app_cert.key_path),
        scopes=[f"{GRAPH}/.default"],
    )
    profile.pop("client_secret")
    error = refusal(make_registry({"graph": profile}))
    assert error.details["error_codes"] == "50027"
    assert "No certificate thumbprint" in (error.error_description or "")


def test_legacy_x5t_is_accepted_unless_the_tenant_is_configured_otherwise(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    lenient = start_entra(start, app_cert)
    profile = cert_profile(
        certs, lenient, app_cert.key_path, app_cert.cert_path, thumbprint_header="x5t"
    )
    make_registry({"graph": profile}).get_token("graph")
    header = decode((lenient.requests[0].form_value("client_assertion") or "").split(".")[0])
    assert "x5t" in header and "x5t#S256" not in header

    strict = start_entra(start, app_cert, thumbprint_headers=["x5t#S256"])
    profile = cert_profile(
        certs, strict, app_cert.key_path, app_cert.cert_path, thumbprint_header="x5t"
    )
    assert refusal(make_registry({"graph": profile})).details["error_codes"] == "50027"


def test_ec_key_is_refused_as_an_unsupported_algorithm(
    start: StartEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: MakeRegistry,
) -> None:
    ec = make_client_certificate(tmp_path, common_name="ec-app")  # P-256: ES256
    emulator = start_entra(start, ec)
    profile = cert_profile(certs, emulator, ec.key_path, ec.cert_path)
    error = refusal(make_registry({"graph": profile}))
    assert error.details["error_codes"] == "5002738"
    assert "'ES256' is not a supported signature algorithm" in (error.error_description or "")


def test_wrong_audience_and_stale_assertion_are_refused(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = start_entra(start, app_cert)
    elsewhere = cert_profile(
        certs,
        emulator,
        app_cert.key_path,
        app_cert.cert_path,
        assertion_audience=f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
    )
    error = refusal(make_registry({"graph": elsewhere}))
    assert error.details["error_codes"] == "50027" and "audience" in str(error)

    # An assertion signed two hours ago (a host whose clock is off).
    import tokenrack.auth.signing

    monkeypatch.setattr(
        tokenrack.auth.signing, "time", SimpleNamespace(time=lambda: time.time() - 7200)
    )
    stale = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path)
    error = refusal(make_registry({"graph": stale}))
    assert error.details["error_codes"] == "700024"


def test_body_without_client_id_and_replays_are_refused(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start_entra(start, app_cert)
    profile = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path)
    make_registry({"graph": profile}).get_token("graph")
    sent = dict(emulator.requests[0].form)
    url = f"{emulator.url}/{TENANT}/oauth2/v2.0/token"
    replay = requests.post(url, data=sent, verify=str(certs.ca_path), timeout=5)
    assert replay.status_code == 401 and "replay" in replay.json()["error_description"]
    anonymous = {k: v for k, v in sent.items() if k != "client_id"}
    missing = requests.post(url, data=anonymous, verify=str(certs.ca_path), timeout=5)
    assert missing.status_code == 400
    assert missing.json()["error_codes"] == [900144]


def test_unknown_app_gets_aadsts700016(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start(EntraPersonality(), [])
    profile = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path)
    with pytest.raises(UnauthorizedClientError) as caught:
        make_registry({"graph": profile}).get_token("graph")
    assert caught.value.details["error_codes"] == "700016"
    assert TENANT in (caught.value.error_description or "")


def test_certificate_credential_needs_a_certificate(
    certs: TestCertificates, app_cert: ClientCertificateFiles, make_registry: MakeRegistry
) -> None:
    profile = {
        "provider": "azure",
        "tenant": TENANT,
        "client_id": APP,
        "resource": GRAPH,
        "auth_method": "private_key_jwt",
        "private_key": str(app_cert.key_path),
    }
    with pytest.raises(ConfigError, match=r"profiles\.graph\.certificate: .*x5t#S256"):
        make_registry({"graph": profile})


@pytest.mark.parametrize(
    ("change", "status", "code", "words"),
    [
        ({"client_assertion_type": "urn:example:other"}, 400, 50027, "client_assertion_type"),
        ({"client_assertion": "not-a-jwt"}, 401, 50027, "invalid or malformed"),
        ({"client_id": "another-app"}, 401, 700021, "doesn't match 'client_id'"),
    ],
)
def test_malformed_certificate_credentials_are_refused(
    change: dict[str, str],
    status: int,
    code: int,
    words: str,
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    emulator = start_entra(start, app_cert)
    profile = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path)
    make_registry({"graph": profile}).get_token("graph")
    sent = {**dict(emulator.requests[0].form), **change}
    url = f"{emulator.url}/{TENANT}/oauth2/v2.0/token"
    answer = requests.post(url, data=sent, verify=str(certs.ca_path), timeout=5)
    assert answer.status_code == status
    assert answer.json()["error_codes"] == [code] and words in answer.json()["error_description"]


def test_a_bare_public_key_is_not_a_registered_certificate(
    start: StartEmulator,
    certs: TestCertificates,
    app_cert: ClientCertificateFiles,
    make_registry: MakeRegistry,
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    public = (
        x509.load_pem_x509_certificate(app_cert.cert_path.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    emulator = start(EntraPersonality(), [EmulatorClient(APP, public_key=public)])
    profile = cert_profile(certs, emulator, app_cert.key_path, app_cert.cert_path)
    error = refusal(make_registry({"graph": profile}))
    assert error.details["error_codes"] == "700027"
