"""The keycloak provider against the Keycloak personality: paths, realms, Basic decoding."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.keycloak import KeycloakProvider
from tokenrack_providers.testing.personalities import KeycloakPersonality

from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.errors import ConfigError, TokenRequestError, UnauthorizedClientError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates


class TestKeycloakContract(ProviderContractTests):
    provider_class = KeycloakProvider
    entry_point = "keycloak"
    profile = {
        "base_url": "https://sso.acme.example",
        "realm": "acme",
        "client_id": "billing",
        "client_secret": "contract-secret",
    }


def test_templates() -> None:
    base = {"base_url": "https://sso.acme.example/", "realm": "acme", "client_id": "c"}
    assert KeycloakProvider(base).token_url() == (
        "https://sso.acme.example/realms/acme/protocol/openid-connect/token"
    )
    assert KeycloakProvider({**base, "legacy_auth_path": True}).token_url() == (
        "https://sso.acme.example/auth/realms/acme/protocol/openid-connect/token"
    )


def keycloak(certs: TestCertificates, emulator: Any, **options: Any) -> dict[str, Any]:
    return vendor_profile(
        certs, "keycloak", base_url=f"https://127.0.0.1:{emulator.port}", realm="acme", **options
    )


def test_basic_with_rfc6749_encoding_is_decoded(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    # The canary secret holds : + / % & = and a space: raw Basic would fail here.
    emulator = start(KeycloakPersonality())
    token = make_registry({"k": keycloak(certs, emulator)}).get_token("k")
    sent = emulator.requests[0]
    assert sent.path == "/realms/acme/protocol/openid-connect/token"
    assert sent.auth_method == "client_secret_basic"
    assert token.extra["refresh_expires_in"] == 0
    assert token.scopes == ("profile", "email")


def test_raw_basic_fails_as_keycloak_fails(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(KeycloakPersonality())
    profile = keycloak(certs, emulator, basic_encoding="raw")
    with pytest.raises(UnauthorizedClientError) as caught:
        make_registry({"k": profile}).get_token("k")
    assert caught.value.status == 401
    assert "Invalid client or Invalid client credentials" in str(caught.value)


def test_keycloak_before_20_needs_raw_basic(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    # Keycloak 19 and earlier do not form-decode Basic credentials (keycloak #11908, PR
    # #14347): the canary secret (: + / % & = and a space) passes only unencoded, as
    # docs/providers/keycloak.md says.
    emulator = start(KeycloakPersonality(legacy=True), basic_decoding="raw")
    with pytest.raises(UnauthorizedClientError):
        make_registry({"k": keycloak(certs, emulator, legacy_auth_path=True)}).get_token("k")
    raw = keycloak(certs, emulator, legacy_auth_path=True, basic_encoding="raw")
    assert make_registry({"k": raw}).get_token("k").access_token
    assert emulator.request_count == 2


def test_legacy_auth_path(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(KeycloakPersonality(legacy=True))
    make_registry({"k": keycloak(certs, emulator, legacy_auth_path=True)}).get_token("k")
    assert emulator.requests[0].path == "/auth/realms/acme/protocol/openid-connect/token"


def test_modern_server_has_no_auth_path(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(KeycloakPersonality())
    with pytest.raises(TokenRequestError) as caught:
        make_registry({"k": keycloak(certs, emulator, legacy_auth_path=True)}).get_token("k")
    assert caught.value.status == 404


def test_unknown_realm(start: StartEmulator, certs: TestCertificates, make_registry: Any) -> None:
    emulator = start(KeycloakPersonality(realms=["other"]))
    with pytest.raises(TokenRequestError, match="Realm does not exist") as caught:
        make_registry({"k": keycloak(certs, emulator)}).get_token("k")
    assert caught.value.status == 404


def test_token_url_override_keeps_basic(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(KeycloakPersonality())
    url = f"https://127.0.0.1:{emulator.port}/realms/acme/protocol/openid-connect/token"
    profile = keycloak(certs, emulator, token_url=url)
    profile["base_url"] = "https://unreachable.invalid"
    make_registry({"k": profile}).get_token("k")
    assert emulator.requests[0].auth_method == "client_secret_basic"


def test_missing_realm(make_registry: Any) -> None:
    profile = {
        "provider": "keycloak",
        "base_url": "https://s",
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError, match=r"profiles\.k\.realm: required, but missing"):
        make_registry({"k": profile})
