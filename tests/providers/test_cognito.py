"""The cognito provider against the Cognito personality: domains, scopes, bare errors."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.cognito import CognitoProvider
from tokenrack_providers.testing.personalities import CognitoPersonality

from tests.conftest import CLIENT_ID, SECRET
from tests.providers.conftest import StartEmulator, host, vendor_profile
from tokenrack.errors import ConfigError, InvalidClientError, InvalidScopeError
from tokenrack.testing import EmulatorClient, ProviderContractTests
from tokenrack.testing.tls import TestCertificates

RS = "https://api.acme.example"


class TestCognitoContract(ProviderContractTests):
    provider_class = CognitoProvider
    entry_point = "cognito"
    profile = {
        "domain": "acme",
        "region": "eu-west-1",
        "client_id": "1example23456789",
        "client_secret": "contract-secret",
        "resource_server": RS,
        "scopes": ["invoices.read"],
    }


def test_templates_and_scopes() -> None:
    prefix = CognitoProvider(
        {
            "domain": "acme",
            "region": "eu-west-1",
            "client_id": "c",
            "resource_server": RS,
            "scopes": ["read", f"{RS}/write"],
        }
    )
    request = prefix.build_token_request()
    assert request.url == "https://acme.auth.eu-west-1.amazoncognito.com/oauth2/token"
    assert request.form_value("scope") == f"{RS}/read {RS}/write"
    custom = CognitoProvider({"domain": "auth.acme.example", "client_id": "c"})
    assert custom.token_url() == "https://auth.acme.example/oauth2/token"


def test_token_with_resource_server_scopes(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    client = EmulatorClient(CLIENT_ID, SECRET, scopes=frozenset({f"{RS}/read"}))
    emulator = start(CognitoPersonality(), [client])
    profile = vendor_profile(
        certs, "cognito", domain=host(emulator), resource_server=RS, scopes=["read"]
    )
    token = make_registry({"c": profile}).get_token("c")
    sent = emulator.requests[0]
    assert sent.auth_method == "client_secret_basic"
    assert sent.form_value("scope") == f"{RS}/read"
    assert token.scopes == (f"{RS}/read",)  # the answer has none: those asked for


def test_unknown_scope_is_a_bare_invalid_scope(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    client = EmulatorClient(CLIENT_ID, SECRET, scopes=frozenset({f"{RS}/read"}))
    emulator = start(CognitoPersonality(), [client])
    profile = vendor_profile(
        certs, "cognito", domain=host(emulator), resource_server=RS, scopes=["write"]
    )
    with pytest.raises(InvalidScopeError) as caught:
        make_registry({"c": profile}).get_token("c")
    assert caught.value.error_description is None


def test_bad_secret(start: StartEmulator, certs: TestCertificates, make_registry: Any) -> None:
    emulator = start(CognitoPersonality())
    profile = vendor_profile(certs, "cognito", domain=host(emulator), client_secret="wrong")
    with pytest.raises(InvalidClientError):
        make_registry({"c": profile}).get_token("c")


def test_json_body_is_refused(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(CognitoPersonality())
    profile = vendor_profile(
        certs, "generic", token_url=f"{emulator.url}/oauth2/token", body_format="json"
    )
    from tokenrack.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        make_registry({"c": profile}).get_token("c")


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"domain": "acme"}, "region"),
        ({"domain": "auth.acme.example", "region": "eu-west-1"}, "region"),
        ({"domain": "acme", "region": "europe"}, "region"),
    ],
)
def test_domain_and_region(options: dict[str, Any], path: str, make_registry: Any) -> None:
    profile = {"provider": "cognito", "client_id": "c", "client_secret": "s", **options}
    with pytest.raises(ConfigError, match=rf"profiles\.c\.{path}"):
        make_registry({"c": profile})
