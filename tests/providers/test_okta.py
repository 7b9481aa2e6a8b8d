"""The okta provider against the Okta personality: servers, scopes, rate limits."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.okta import OktaProvider
from tokenrack_providers.testing.personalities import OktaPersonality

from tests.conftest import CLIENT_ID, SECRET, FakeClock
from tests.providers.conftest import StartEmulator, host, vendor_profile
from tokenrack.errors import ConfigError, InvalidScopeError, TokenRequestError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates


class TestOktaContract(ProviderContractTests):
    provider_class = OktaProvider
    entry_point = "okta"
    profile = {
        "domain": "acme.okta.com",
        "client_id": "0oa1",
        "client_secret": "contract-secret",
        "scopes": ["invoices.read"],
    }


def test_templates() -> None:
    def url(**options: Any) -> str:
        provider = OktaProvider({"domain": "acme.okta.com", "client_id": "c", **options})
        return provider.token_url()

    assert url() == "https://acme.okta.com/oauth2/default/v1/token"
    assert url(authorization_server="aus9x") == "https://acme.okta.com/oauth2/aus9x/v1/token"
    assert url(authorization_server="org") == "https://acme.okta.com/oauth2/v1/token"
    assert url(token_url="https://proxy.internal/okta") == "https://proxy.internal/okta"


def okta(certs: TestCertificates, emulator: Any, **options: Any) -> dict[str, Any]:
    return vendor_profile(certs, "okta", domain=host(emulator), scopes=["invoices.read"], **options)


def test_custom_server_with_basic(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(OktaPersonality(servers=["default", "aus9x"]))
    registry = make_registry({"o": okta(certs, emulator, authorization_server="aus9x")})
    token = registry.get_token("o")
    sent = emulator.requests[0]
    assert sent.path == "/oauth2/aus9x/v1/token"
    assert sent.auth_method == "client_secret_basic"
    assert sent.form_value("client_secret") is None
    assert token.scopes == ("invoices.read",)


def test_unknown_server_is_a_404(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(OktaPersonality())
    registry = make_registry({"o": okta(certs, emulator, authorization_server="nope")})
    with pytest.raises(TokenRequestError) as caught:
        registry.get_token("o")
    assert caught.value.status == 404
    assert caught.value.error == "http_404"


def test_org_server_refuses_custom_scopes(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(OktaPersonality())
    registry = make_registry({"o": okta(certs, emulator, authorization_server="org")})
    with pytest.raises(InvalidScopeError, match="Custom scopes are not allowed"):
        registry.get_token("o")


def test_rate_limit_reset_is_honoured(
    start: StartEmulator, certs: TestCertificates, make_registry: Any, clock: FakeClock
) -> None:
    emulator = start(OktaPersonality())
    emulator.fail_next(OktaPersonality.rate_limited(seconds=3, now=clock.time()))
    profile = okta(certs, emulator, retries={"attempts": 2, "backoff": 0, "max_backoff": 8})
    registry = make_registry({"o": profile}, clock=clock)
    registry.get_token("o")
    # The wait is exactly what x-rate-limit-reset asked for (backoff 0: no jitter).
    assert clock.slept == [3]
    assert emulator.request_count == 2


def test_okta_scopes_need_private_key_jwt(make_registry: Any) -> None:
    profile = {
        "provider": "okta",
        "domain": "acme.okta.com",
        "client_id": "c",
        "client_secret": "s",
        "authorization_server": "org",
        "scopes": ["okta.users.read"],
    }
    with pytest.raises(ConfigError) as caught:
        make_registry({"mgmt": profile})
    message = str(caught.value)
    assert "profiles.mgmt.auth_method" in message
    assert "private_key_jwt" in message and "okta.users.read" in message


def test_okta_scopes_need_the_org_server() -> None:
    provider = OktaProvider(
        {
            "domain": "acme.okta.com",
            "client_id": "c",
            "scopes": ["okta.users.read"],
            "auth_method": "private_key_jwt",
        }
    )
    with pytest.raises(ConfigError) as caught:
        provider.check_options()
    assert caught.value.path == "authorization_server"


def test_org_server_refuses_secrets_for_okta_scopes(
    start: StartEmulator, certs: TestCertificates
) -> None:
    # What Okta answers a client that skipped the load-time check (e.g. a hand-built
    # request): the personality is as strict as the provider's check.
    import requests

    emulator = start(OktaPersonality())
    answer = requests.post(
        f"{emulator.url}/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": "okta.users.read",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
        },
        verify=str(certs.ca_path),
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"
    assert "private_key_jwt" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("options", "path"),
    [({"scopes": []}, "scopes"), ({"domain": "https://acme.okta.com"}, "domain")],
)
def test_schema_errors(options: dict[str, Any], path: str, make_registry: Any) -> None:
    profile = {
        "provider": "okta",
        "domain": "acme.okta.com",
        "client_id": "c",
        "client_secret": "s",
        "scopes": ["a"],
        **options,
    }
    with pytest.raises(ConfigError, match=rf"profiles\.o\.{path}"):
        make_registry({"o": profile})
