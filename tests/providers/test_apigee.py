"""The apigee provider against the Apigee personality: the response normaliser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tokenrack_providers.apigee import ApigeeProvider, apigee_error
from tokenrack_providers.testing.personalities import ApigeePersonality

from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.errors import InvalidClientError, TokenRequestError
from tokenrack.oauth.message import HttpResponse
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates

PATH = "/oauth/client_credential/accesstoken"


class TestApigeeContract(ProviderContractTests):
    provider_class = ApigeeProvider
    entry_point = "apigee"
    profile = {
        "token_url": "https://acme-prod.apigee.net/oauth/client_credential/accesstoken",
        "client_id": "ak",
        "client_secret": "contract-secret",
    }


def test_grant_type_in_the_query() -> None:
    provider = ApigeeProvider(
        {
            "token_url": "https://x.apigee.net/oauth/token",
            "client_id": "c",
            "grant_type_in": "query",
        }
    )
    request = provider.build_token_request()
    assert request.url == "https://x.apigee.net/oauth/token?grant_type=client_credentials"
    assert request.form_value("grant_type") is None


def apigee(certs: TestCertificates, emulator: Any, **options: Any) -> dict[str, Any]:
    return vendor_profile(
        certs, "apigee", token_url=f"https://127.0.0.1:{emulator.port}{PATH}", **options
    )


def test_bearertoken_string_lifetime_and_product_fields(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ApigeePersonality(grant_type_in="query"))
    token = make_registry({"a": apigee(certs, emulator, grant_type_in="query")}).get_token("a")
    sent = emulator.requests[0]
    assert dict(sent.query) == {"grant_type": "client_credentials"}
    assert token.token_type == "Bearer"  # Apigee says "BearerToken"
    assert 3500 < token.expires_in() <= 3600  # from the string "3600"
    assert token.extra["api_product_list_json"] == ["Payments"]
    assert len(token.extra["issued_at"]) == 13  # epoch milliseconds, kept as sent


@pytest.mark.parametrize("proxy_reads", ["body", "query"])
def test_by_default_grant_type_is_where_either_proxy_style_reads_it(
    proxy_reads: str, start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    # issue 13, vendors #19: the policy reads the form body by default, the classic sample
    # the query; unless told, both get it.
    emulator = start(ApigeePersonality(grant_type_in=proxy_reads))
    assert make_registry({"a": apigee(certs, emulator)}).get_token("a").access_token
    sent = emulator.requests[0]
    assert dict(sent.query) == {"grant_type": "client_credentials"}
    assert sent.form_value("grant_type") == "client_credentials"


def test_personality_reads_the_body_as_the_policy_does_by_default(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ApigeePersonality())
    with pytest.raises(TokenRequestError, match="Invalid grant_type"):
        make_registry({"a": apigee(certs, emulator, grant_type_in="query")}).get_token("a")


def test_grant_type_in_the_body_is_missed_by_a_query_proxy(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ApigeePersonality(grant_type_in="query"))
    with pytest.raises(TokenRequestError) as caught:
        make_registry({"a": apigee(certs, emulator, grant_type_in="body")}).get_token("a")
    assert (caught.value.error, caught.value.error_description) == (
        "invalid_request",
        "Invalid grant_type",
    )


def test_bad_client_is_mapped_from_apigees_error_shape(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(ApigeePersonality(grant_type_in="body"))
    profile = apigee(certs, emulator, client_secret="wrong")
    with pytest.raises(InvalidClientError, match="ClientId is Invalid"):
        make_registry({"a": profile}).get_token("a")


def test_fault_envelope() -> None:
    body = {
        "fault": {
            "faultstring": "Invalid ApiKey",
            "detail": {"errorcode": "oauth.v2.InvalidApiKey"},
        }
    }
    assert apigee_error(body) == ("oauth.v2.InvalidApiKey", "Invalid ApiKey")
    provider = ApigeeProvider({"token_url": "https://x/t", "client_id": "c"})
    answer = HttpResponse(
        status=401,
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        url="https://x/t",
        sent_at=0.0,
    )
    with pytest.raises(TokenRequestError) as caught:
        provider.parse_token_response(answer)
    assert caught.value.error == "oauth.v2.InvalidApiKey"
    assert apigee_error({"access_token": "t"}) is None and apigee_error([1]) is None
