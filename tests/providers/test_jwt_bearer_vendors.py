"""JWT-bearer grants of Salesforce, DocuSign, ServiceNow and Zitadel (issue 13).

Salesforce through its provider's preset (``provider: salesforce``, ``grant: jwt_bearer``);
DocuSign, ServiceNow and Zitadel through the recipes of docs/jwt-bearer.md on the generic
provider. Each against its strict personality, which refuses what the vendor refuses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tokenrack_providers.testing.jwt_bearer import (
    DocuSignJwtPersonality,
    SalesforceJwtPersonality,
    ServiceNowJwtPersonality,
    ZitadelJwtPersonality,
)

from tests.keys import jwk, private_pem, public_pem
from tests.providers.conftest import StartEmulator, host
from tokenrack.errors import InvalidGrantError, TokenRequestError
from tokenrack.oauth.response import decode_jws_parts
from tokenrack.testing import TokenEmulator
from tokenrack.testing.jwt_bearer import jwt_bearer_client
from tokenrack.testing.tls import TestCertificates

CONSUMER_KEY = "3MVG9-consumer-key"
USERNAME = "integration@acme.example"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "server.key"
    path.write_text(private_pem("rsa"))
    path.chmod(0o600)
    return path


def claims(emulator: TokenEmulator) -> dict[str, Any]:
    decoded = decode_jws_parts(dict(emulator.requests[-1].form)["assertion"])
    assert decoded is not None
    return {"header": decoded[0], **decoded[1]}


def trusted(certs: TestCertificates, **options: Any) -> dict[str, Any]:
    return {"ca_bundle": str(certs.ca_path), "retries": {"attempts": 1}, **options}


# -- Salesforce: the provider's preset ---------------------------------------------------


def salesforce(certs: TestCertificates, emulator: TokenEmulator, key: Path, **more: Any) -> Any:
    return trusted(
        certs,
        provider="salesforce",
        grant="jwt_bearer",
        my_domain=host(emulator),
        client_id=CONSUMER_KEY,
        private_key={"file": str(key)},
        jwt_bearer={"subject": USERNAME, **more},
    )


def test_salesforce_jwt_bearer_preset(
    start: StartEmulator, certs: TestCertificates, key_path: Path, make_registry: Any
) -> None:
    emulator = start(
        SalesforceJwtPersonality({CONSUMER_KEY: [USERNAME]}),
        [jwt_bearer_client(CONSUMER_KEY, public_pem("rsa"))],
    )
    profile = salesforce(certs, emulator, key_path)
    token = make_registry({"sf": {**profile, "default_ttl": 1800}}).get_token("sf")

    sent = claims(emulator)
    assert (sent["iss"], sent["sub"], sent["aud"]) == (
        CONSUMER_KEY,
        USERNAME,
        "https://login.salesforce.com",
    )
    assert sent["exp"] - sent["iat"] == 180
    assert emulator.requests[-1].auth_method == "none"
    assert token.extra["instance_url"] == "https://acme.my.salesforce.com"


def test_salesforce_sandbox_audience_is_test() -> None:
    from tokenrack_providers.salesforce import SalesforceProvider

    from tokenrack.auth.jwt_bearer import JwtBearerGrant, with_grant

    cls = with_grant(SalesforceProvider, "jwt_bearer")
    provider = cls({"my_domain": "acme--uat.sandbox.my.salesforce.com", "client_id": "c"})
    assert isinstance(provider, JwtBearerGrant)
    assert provider.audience("ignored") == "https://test.salesforce.com"


def test_salesforce_refuses_an_unapproved_user_a_wrong_audience_and_a_long_exp(
    start: StartEmulator, certs: TestCertificates, key_path: Path, make_registry: Any
) -> None:
    emulator = start(
        SalesforceJwtPersonality({CONSUMER_KEY: [USERNAME]}),
        [jwt_bearer_client(CONSUMER_KEY, public_pem("rsa"))],
    )
    cases = [
        ({"subject": "someone@else.example"}, "user hasn't approved this consumer"),
        ({"audience": "https://acme.my.salesforce.com"}, "audience is invalid"),
        ({"lifetime": 600}, "expired authorization code"),
    ]
    for more, description in cases:
        registry = make_registry({"sf": salesforce(certs, emulator, key_path, **more)})
        with pytest.raises(InvalidGrantError) as refused:
            registry.get_token("sf")
        assert refused.value.error_description == description


# -- DocuSign: a recipe --------------------------------------------------------------------

INTEGRATION_KEY = "7c2b8d7e-integration-key"
USER_ID = "4be2c1a0-user-id"


def docusign(certs: TestCertificates, emulator: TokenEmulator, key: Path, **more: Any) -> Any:
    return trusted(
        certs,
        provider="generic",
        grant="jwt_bearer",
        token_url=emulator.token_url,
        client_id=INTEGRATION_KEY,
        private_key={"file": str(key)},
        scopes=["signature", "impersonation"],
        jwt_bearer={
            "subject": USER_ID,
            "audience": "account-d.docusign.com",
            "scopes_in": "claim",
            "lifetime": 3600,
            **more,
        },
    )


def test_docusign_jwt_grant_recipe(
    start: StartEmulator, certs: TestCertificates, key_path: Path, make_registry: Any
) -> None:
    emulator = start(
        DocuSignJwtPersonality({INTEGRATION_KEY: [USER_ID]}),
        [jwt_bearer_client(INTEGRATION_KEY, public_pem("rsa"))],
    )
    token = make_registry({"ds": docusign(certs, emulator, key_path)}).get_token("ds")
    sent = claims(emulator)
    assert sent["scope"] == "signature impersonation"
    assert sent["aud"] == "account-d.docusign.com"
    assert token.scopes == ("signature", "impersonation")

    no_consent = make_registry({"ds": docusign(certs, emulator, key_path, subject="other")})
    with pytest.raises(TokenRequestError) as refused:
        no_consent.get_token("ds")
    assert refused.value.error == "consent_required"

    wrong_host = make_registry(
        {"ds": docusign(certs, emulator, key_path, audience="account.docusign.com")}
    )
    with pytest.raises(InvalidGrantError):
        wrong_host.get_token("ds")


# -- ServiceNow: a recipe ------------------------------------------------------------------

SN_CLIENT = "ac0dd3408c1031006907010c2cc6ef6d"
SN_SECRET = "servicenow-client-secret"


def test_servicenow_jwt_recipe_needs_client_credentials_too(
    start: StartEmulator, certs: TestCertificates, key_path: Path, make_registry: Any
) -> None:
    emulator = start(
        ServiceNowJwtPersonality({SN_CLIENT: ["svc.integration"]}),
        [jwt_bearer_client(SN_CLIENT, public_pem("rsa"), client_secret=SN_SECRET)],
    )
    profile = trusted(
        certs,
        provider="generic",
        grant="jwt_bearer",
        token_url=emulator.token_url,
        client_id=SN_CLIENT,
        client_secret=SN_SECRET,
        auth_method="client_secret_post",
        private_key={"file": str(key_path)},
        jwt_bearer={"subject": "svc.integration", "audience": SN_CLIENT},
    )
    assert make_registry({"sn": profile}).get_token("sn").access_token
    form = dict(emulator.requests[-1].form)
    assert form["client_id"] == SN_CLIENT and "assertion" in form

    without_secret = {k: v for k, v in profile.items() if k not in ("client_secret",)}
    without_secret["auth_method"] = "none"
    with pytest.raises(TokenRequestError) as refused:
        make_registry({"sn": without_secret}).get_token("sn")
    assert refused.value.error == "invalid_client"


# -- Zitadel: a recipe over its JSON key file ----------------------------------------------

USER = "259242039378444290"
KEY_ID = "259254057850126338"


@pytest.mark.skipif(shutil.which("jq") is None, reason="the recipe reads the key file with jq")
def test_zitadel_jwt_profile_recipe(
    start: StartEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Any,
) -> None:
    key_file = tmp_path / "zitadel-key.json"
    key_file.write_text(
        json.dumps(
            {"type": "serviceaccount", "keyId": KEY_ID, "key": private_pem("rsa"), "userId": USER}
        )
    )
    key_file.chmod(0o600)
    public = json.loads(jwk("rsa", private=False, kid=KEY_ID))
    emulator = start(ZitadelJwtPersonality(), [jwt_bearer_client(USER, json.dumps(public))])
    profile = trusted(
        certs,
        provider="generic",
        grant="jwt_bearer",
        token_url=emulator.token_url,
        client_id=USER,
        private_key={"command": ["jq", "-r", ".key", str(key_file)]},
        scopes=["openid", "urn:zitadel:iam:org:project:id:zitadel:aud"],
        jwt_bearer={"key_id": KEY_ID, "audience": emulator.url},
    )
    assert make_registry({"z": profile}).get_token("z").access_token
    sent = claims(emulator)
    assert sent["iss"] == sent["sub"] == USER
    assert sent["header"]["kid"] == KEY_ID

    without_kid = {**profile, "jwt_bearer": {"audience": emulator.url}}
    with pytest.raises(InvalidGrantError):
        make_registry({"z": without_kid}).get_token("z")
