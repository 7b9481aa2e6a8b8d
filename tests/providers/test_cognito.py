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
        ({"domain": "auth.acme.example", "fips": True}, "fips"),
        ({"domain": "acme", "region": "us-gov-west-1", "fips": False}, "fips"),
        ({"domain": "acme", "region": "eu-west-1", "extra_params": {"scope": "x"}}, "extra_params"),
    ],
)
def test_domain_and_region(options: dict[str, Any], path: str, make_registry: Any) -> None:
    profile = {"provider": "cognito", "client_id": "c", "client_secret": "s", **options}
    with pytest.raises(ConfigError, match=rf"profiles\.c\.{path}"):
        make_registry({"c": profile})


def test_fips_and_govcloud_hosts() -> None:
    def url(**options: Any) -> str:
        return CognitoProvider({"domain": "acme", "client_id": "c", **options}).token_url()

    assert url(region="us-east-1", fips=True) == (
        "https://acme.auth-fips.us-east-1.amazoncognito.com/oauth2/token"
    )
    # GovCloud has FIPS endpoints only (issue 13, vendors #12).
    assert url(region="us-gov-west-1") == (
        "https://acme.auth-fips.us-gov-west-1.amazoncognito.com/oauth2/token"
    )
    assert url(region="us-east-1") == "https://acme.auth.us-east-1.amazoncognito.com/oauth2/token"


def test_extra_params_reach_the_pre_token_generation_trigger(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    personality = CognitoPersonality()
    emulator = start(personality, [EmulatorClient(CLIENT_ID, SECRET)])
    metadata = '{"tenant": "acme", "tier": "gold"}'
    profile = vendor_profile(
        certs,
        "cognito",
        domain=host(emulator),
        resource_server=RS,
        scopes=["read"],
        extra_params={"aws_client_metadata": metadata},
    )
    registry = make_registry({"c": profile})
    assert registry.get_token("c").access_token
    assert personality.client_metadata == {"tenant": "acme", "tier": "gold"}
    assert emulator.requests[0].form_value("aws_client_metadata") == metadata


def test_extra_params_are_part_of_the_cache_key() -> None:
    # Different metadata can mean different claims in the token: never the same entry.
    def parts(metadata: str) -> Any:
        options = {"domain": "acme", "region": "eu-west-1", "client_id": "c"}
        extra = {"extra_params": {"aws_client_metadata": metadata}}
        return CognitoProvider({**options, **extra}).cache_key_parts()

    assert parts('{"tenant": "a"}') != parts('{"tenant": "b"}')
