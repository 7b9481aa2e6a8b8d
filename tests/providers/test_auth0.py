"""The auth0 provider against the Auth0 personality: audience, organization, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tokenrack_providers.auth0 import Auth0Provider
from tokenrack_providers.testing.personalities import Auth0Personality

from tests.conftest import CLIENT_ID, SECRET, FakeClock
from tests.keys import private_pem, public_pem
from tests.providers.conftest import StartEmulator, host, vendor_profile
from tokenrack.errors import ConfigError, InvalidClientError, TokenRequestError
from tokenrack.testing import EmulatorClient, ProviderContractTests
from tokenrack.testing.tls import TestCertificates

API = "https://billing.acme.example"


class TestAuth0Contract(ProviderContractTests):
    provider_class = Auth0Provider
    entry_point = "auth0"
    profile = {
        "domain": "acme.eu.auth0.com",
        "client_id": "abc",
        "client_secret": "contract-secret",
        "audience": API,
    }


def test_template_and_parameters() -> None:
    provider = Auth0Provider(
        {"domain": "acme.eu.auth0.com", "client_id": "c", "audience": API, "organization": "o1"}
    )
    request = provider.build_token_request()
    assert request.url == "https://acme.eu.auth0.com/oauth/token"
    assert request.form[1:] == (("audience", API), ("organization", "o1"))


def test_token_with_audience_and_organization(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(Auth0Personality())
    profile = vendor_profile(
        certs, "auth0", domain=host(emulator), audience=API, organization="org_1"
    )
    token = make_registry({"billing": profile}).get_token("billing")
    sent = emulator.requests[0]
    assert sent.path == "/oauth/token"
    assert sent.auth_method == "client_secret_post"
    assert sent.form_value("audience") == API and sent.form_value("organization") == "org_1"
    assert token.access_token in emulator.issued_tokens


def test_resource_stands_in_for_audience(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(Auth0Personality())
    profile = vendor_profile(certs, "auth0", domain=host(emulator), resource=API)
    make_registry({"billing": profile}).get_token("billing")
    assert emulator.requests[0].form_value("resource") == API


def test_api_without_client_grant_is_refused(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    client = EmulatorClient(CLIENT_ID, SECRET, audiences=frozenset({"https://other.example"}))
    emulator = start(Auth0Personality(), [client])
    profile = vendor_profile(certs, "auth0", domain=host(emulator), audience=API)
    with pytest.raises(TokenRequestError) as caught:
        make_registry({"billing": profile}).get_token("billing")
    assert (caught.value.status, caught.value.error) == (403, "access_denied")
    assert "client-grant" in str(caught.value)


def test_bad_secret_is_auth0s_unauthorized(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(Auth0Personality())
    profile = vendor_profile(
        certs, "auth0", domain=host(emulator), audience=API, client_secret="wrong"
    )
    with pytest.raises(TokenRequestError) as caught:
        make_registry({"billing": profile}).get_token("billing")
    assert (caught.value.status, caught.value.error) == (401, "access_denied")
    assert caught.value.error_description == "Unauthorized"


def test_bad_secret_is_a_refusal_cooled_down_and_the_secret_read_again(
    start: StartEmulator,
    certs: TestCertificates,
    make_registry: Any,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    # Auth0's 401 access_denied means "wrong client id or secret" (issue 13, vendors #6).
    emulator = start(Auth0Personality())
    secret_file = tmp_path / "secret"
    secret_file.write_text("rotated-away")
    profile = vendor_profile(
        certs,
        "auth0",
        domain=host(emulator),
        audience=API,
        client_secret={"file": str(secret_file)},
    )
    registry = make_registry({"billing": profile}, clock=clock)
    for _ in range(3):
        with pytest.raises(InvalidClientError) as caught:
            registry.get_token("billing")
        assert (caught.value.status, caught.value.error) == (401, "access_denied")
    assert emulator.request_count == 1  # the cooldown repeats the refusal
    secret_file.write_text(SECRET)
    clock.advance(1.5)  # within the cooldown the secret is read again, once a second
    assert registry.get_token("billing").access_token in emulator.issued_tokens
    assert [r.form_value("client_secret") for r in emulator.requests] == ["rotated-away", SECRET]


def test_personality_refuses_a_request_without_audience(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    # The provider refuses this profile at load; a generic profile shows Auth0's answer.
    emulator = start(Auth0Personality())
    profile = vendor_profile(
        certs, "generic", token_url=f"{emulator.url}/oauth/token", auth_method="client_secret_post"
    )
    with pytest.raises(TokenRequestError) as caught:
        make_registry({"raw": profile}).get_token("raw")
    assert caught.value.error == "access_denied"
    assert "No audience parameter was provided" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "path"),
    [({}, "audience"), ({"audience": API, "resource": API}, "resource")],
)
def test_audience_rules_at_load(options: dict[str, Any], path: str, make_registry: Any) -> None:
    profile = {"provider": "auth0", "domain": "a.auth0.com", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ConfigError, match=rf"profiles\.b\.{path}"):
        make_registry({"b": {**profile, **options}})


def test_preset_names_the_tenant_as_the_assertion_audience() -> None:
    domain = {"domain": "acme.eu.auth0.com", "client_id": "c", "audience": API}
    assert Auth0Provider.preset({**domain, "auth_method": "private_key_jwt"}, {}) == {
        "assertion_audience": "https://acme.eu.auth0.com/"
    }
    assert Auth0Provider.preset({**domain, "private_key": "/k.pem"}, {}) == {
        "assertion_audience": "https://acme.eu.auth0.com/"
    }
    assert Auth0Provider.preset(domain, {}) == {}
    assert Auth0Provider.preset({**domain, "auth_method": "client_secret_basic"}, {}) == {}


def _key_client() -> EmulatorClient:
    return EmulatorClient(
        CLIENT_ID, public_key=public_pem("rsa"), auth_methods=frozenset({"private_key_jwt"})
    )


def _key_profile(certs: TestCertificates, emulator: Any, tmp_path: Path, **options: Any) -> Any:
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_pem("rsa"))
    profile = vendor_profile(
        certs,
        "auth0",
        domain=host(emulator),
        audience=API,
        auth_method="private_key_jwt",
        private_key=str(key_file),
        **options,
    )
    del profile["client_secret"]
    return profile


def test_personality_refuses_an_assertion_for_the_token_url(
    start: StartEmulator, certs: TestCertificates, make_registry: Any, tmp_path: Path
) -> None:
    emulator = start(Auth0Personality(), [_key_client()])
    profile = _key_profile(
        certs, emulator, tmp_path, assertion_audience=f"{emulator.url}/oauth/token"
    )
    with pytest.raises(InvalidClientError):
        make_registry({"billing": profile}).get_token("billing")
    tenant = _key_profile(certs, emulator, tmp_path, assertion_audience=f"{emulator.url}/")
    assert make_registry({"billing": tenant}).get_token("billing").access_token


def test_private_key_jwt_signs_for_the_tenant_by_default(
    start: StartEmulator, certs: TestCertificates, make_registry: Any, tmp_path: Path
) -> None:
    emulator = start(Auth0Personality(), [_key_client()])
    profile = _key_profile(certs, emulator, tmp_path)
    assert make_registry({"billing": profile}).get_token("billing").access_token
