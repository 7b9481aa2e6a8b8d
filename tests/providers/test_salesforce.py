"""The salesforce provider against the Salesforce personality: no expiry, instance_url."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from tokenrack_providers.salesforce import SalesforceProvider
from tokenrack_providers.testing.personalities import SalesforcePersonality

from tests.conftest import CLIENT_ID
from tests.providers.conftest import StartEmulator, host, vendor_profile
from tests.test_bearer_auth import Api
from tokenrack.core.bearer_auth import BearerAuth
from tokenrack.errors import ConfigError, InvalidClientError, InvalidGrantError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates


class TestSalesforceContract(ProviderContractTests):
    provider_class = SalesforceProvider
    entry_point = "salesforce"
    profile = {"my_domain": "acme", "client_id": "3MVG9", "client_secret": "contract-secret"}


def test_templates() -> None:
    def url(domain: str) -> str:
        return SalesforceProvider({"my_domain": domain, "client_id": "c"}).token_url()

    assert url("acme") == "https://acme.my.salesforce.com/services/oauth2/token"
    assert url("acme--uat.sandbox.my.salesforce.com") == (
        "https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token"
    )


def test_token_without_expiry_uses_default_ttl_and_keeps_instance_url(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(SalesforcePersonality(instance_url="https://acme.my.salesforce.com"))
    profile = vendor_profile(certs, "salesforce", my_domain=host(emulator), default_ttl=1800)
    token = make_registry({"sf": profile}).get_token("sf")
    assert emulator.requests[0].auth_method == "client_secret_post"
    assert token.extra["instance_url"] == "https://acme.my.salesforce.com"
    assert "expires_in" not in token.extra
    assert 1700 < token.expires_in() <= 1800


def test_app_without_run_as_user(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(SalesforcePersonality(without_run_as_user=[CLIENT_ID]))
    profile = vendor_profile(certs, "salesforce", my_domain=host(emulator))
    with pytest.raises(InvalidGrantError, match="no client credentials user enabled"):
        make_registry({"sf": profile}).get_token("sf")


def test_bad_secret_is_a_400(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(SalesforcePersonality())
    profile = vendor_profile(certs, "salesforce", my_domain=host(emulator), client_secret="x")
    with pytest.raises(InvalidClientError) as caught:
        make_registry({"sf": profile}).get_token("sf")
    assert caught.value.status == 400


def test_session_ended_early_is_refreshed_on_the_apis_401(
    start: StartEmulator, certs: TestCertificates, make_registry: Any, api: Api
) -> None:
    # Salesforce states no lifetime, so a session the org ends early shows up as a 401 from
    # the API; BearerAuth then fetches a new token once and retries the call.
    emulator = start(SalesforcePersonality())
    registry = make_registry({"sf": vendor_profile(certs, "salesforce", my_domain=host(emulator))})
    with requests.Session() as http:
        http.auth = BearerAuth("sf", registry=registry)
        assert http.get(api.url).status_code == 200
        api.rejected.add(emulator.issued_tokens[0])  # the org ended the session
        answer = http.get(api.url)
    assert answer.status_code == 200 and [r.status_code for r in answer.history] == [401]
    assert emulator.request_count == 2
    assert api.seen[-1][0] == emulator.issued_tokens[1]


@pytest.mark.parametrize(
    "domain", ["login.salesforce.com", "test.salesforce.com", "acme.lightning.force.com"]
)
def test_shared_and_ui_hosts_are_refused(domain: str, make_registry: Any) -> None:
    profile = {
        "provider": "salesforce",
        "my_domain": domain,
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError, match=r"profiles\.sf\.my_domain") as caught:
        make_registry({"sf": profile})
    assert "My Domain" in str(caught.value)
