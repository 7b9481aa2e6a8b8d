"""The zoom provider against the Zoom personality: account credentials, Basic only."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.testing.personalities import ZoomPersonality
from tokenrack_providers.zoom import ZoomProvider

from tests.conftest import CLIENT_ID
from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.errors import ConfigError, InvalidClientError, InvalidRequestError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates


class TestZoomContract(ProviderContractTests):
    provider_class = ZoomProvider
    entry_point = "zoom"
    profile = {"account_id": "AbC123", "client_id": "zc", "client_secret": "contract-secret"}


def test_request_shape() -> None:
    request = ZoomProvider({"account_id": "AbC123", "client_id": "c"}).build_token_request()
    assert request.url == "https://zoom.us/oauth/token"
    assert request.params_in == "query"
    assert request.form == (("grant_type", "account_credentials"), ("account_id", "AbC123"))


def zoom(certs: TestCertificates, emulator: Any, **options: Any) -> dict[str, Any]:
    url = f"https://127.0.0.1:{emulator.port}/oauth/token"
    return vendor_profile(certs, "zoom", account_id="AbC123", token_url=url, **options)


def test_token_with_query_parameters_and_lowercase_bearer(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ZoomPersonality(accounts={CLIENT_ID: "AbC123"}))
    token = make_registry({"z": zoom(certs, emulator)}).get_token("z")
    sent = emulator.requests[0]
    assert dict(sent.query) == {"grant_type": "account_credentials", "account_id": "AbC123"}
    assert sent.form == () and sent.auth_method == "client_secret_basic"
    assert token.token_type == "Bearer"  # Zoom says "bearer"
    assert token.extra["api_url"] == "https://api.zoom.us"
    assert token.scopes == ("meeting:read:admin", "user:read:admin")


def test_form_body_works_too(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ZoomPersonality())
    make_registry({"z": zoom(certs, emulator, params_in="body")}).get_token("z")
    assert emulator.requests[0].form_value("account_id") == "AbC123"


def test_wrong_account(start: StartEmulator, certs: TestCertificates, make_registry: Any) -> None:
    emulator = start(ZoomPersonality(accounts={CLIENT_ID: "Other"}))
    with pytest.raises(InvalidRequestError) as caught:
        make_registry({"z": zoom(certs, emulator)}).get_token("z")
    assert caught.value.details["reason"] == "Invalid request : Invalid account_id"


def test_body_credentials_are_not_accepted(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ZoomPersonality())
    profile = vendor_profile(
        certs,
        "generic",
        token_url=f"{emulator.url}/oauth/token",
        grant_type="account_credentials",
        extra_params={"account_id": "AbC123"},
        auth_method="client_secret_post",
    )
    with pytest.raises(InvalidClientError):
        make_registry({"z": profile}).get_token("z")


def test_client_credentials_grant_is_refused(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ZoomPersonality())
    profile = vendor_profile(certs, "generic", token_url=f"{emulator.url}/oauth/token")
    from tokenrack.errors import UnsupportedGrantTypeError

    with pytest.raises(UnsupportedGrantTypeError):
        make_registry({"z": profile}).get_token("z")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auth_method": "client_secret_post"}, r"profiles\.z\.auth_method: provider 'zoom'"),
        ({"scopes": ["meeting:read"]}, r"profiles\.z\.scopes: Zoom grants the scopes"),
        ({"account_id": None}, r"profiles\.z\.account_id"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str, make_registry: Any) -> None:
    profile = {"provider": "zoom", "account_id": "A", "client_id": "c", "client_secret": "s"}
    profile.update(options)
    profile = {k: v for k, v in profile.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        make_registry({"z": profile})
