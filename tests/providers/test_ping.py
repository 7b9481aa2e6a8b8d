"""The ping provider against the Ping personality: PingOne, PingFederate, ForgeRock."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.ping import PingProvider
from tokenrack_providers.testing.personalities import PingPersonality

from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.errors import ConfigError, InvalidClientError, InvalidRequestError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates

ENV = "9f4f3c8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


class TestPingContract(ProviderContractTests):
    provider_class = PingProvider
    entry_point = "ping"
    profile = {
        "product": "pingone",
        "environment_id": ENV,
        "region": "eu",
        "client_id": "p1",
        "client_secret": "contract-secret",
    }


def url(**options: Any) -> str:
    return PingProvider({"client_id": "c", **options}).token_url()


def test_templates() -> None:
    assert url(product="pingone", environment_id=ENV) == f"https://auth.pingone.com/{ENV}/as/token"
    assert url(product="pingone", environment_id=ENV, region="com.au") == (
        f"https://auth.pingone.com.au/{ENV}/as/token"
    )
    assert url(product="pingfederate", base_url="https://sso.acme.example:9031") == (
        "https://sso.acme.example:9031/as/token.oauth2"
    )
    assert url(product="forgerock", base_url="https://t.forgeblocks.com/am", realm="alpha") == (
        "https://t.forgeblocks.com/am/oauth2/realms/root/realms/alpha/access_token"
    )
    assert url(product="forgerock", base_url="https://h/am", realm="alpha/partners") == (
        "https://h/am/oauth2/realms/root/realms/alpha/realms/partners/access_token"
    )


@pytest.mark.parametrize(
    ("product", "options", "path"),
    [
        ("pingfederate", {}, "/as/token.oauth2"),
        ("forgerock", {"realm": "alpha"}, "/am/oauth2/realms/root/realms/alpha/access_token"),
        # The top-level realm (issue 13, vendors #13): not a sub-realm called root.
        ("forgerock", {"realm": "root"}, "/am/oauth2/realms/root/access_token"),
        ("forgerock", {"realm": "root/alpha"}, "/am/oauth2/realms/root/realms/alpha/access_token"),
    ],
)
def test_token_from_each_self_hosted_product(
    product: str,
    options: dict[str, Any],
    path: str,
    start: StartEmulator,
    certs: TestCertificates,
    make_registry: Any,
) -> None:
    emulator = start(PingPersonality(product))
    base = f"https://127.0.0.1:{emulator.port}" + ("/am" if product == "forgerock" else "")
    profile = vendor_profile(certs, "ping", product=product, base_url=base, **options)
    token = make_registry({"p": profile}).get_token("p")
    assert emulator.requests[0].path == path
    assert emulator.requests[0].auth_method == "client_secret_basic"
    assert token.access_token in emulator.issued_tokens


def test_pingone_through_token_url(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(PingPersonality("pingone"))
    profile = vendor_profile(
        certs,
        "ping",
        product="pingone",
        environment_id=ENV,
        token_url=f"https://127.0.0.1:{emulator.port}/{ENV}/as/token",
        auth_method="client_secret_post",
    )
    make_registry({"p": profile}).get_token("p")
    assert emulator.requests[0].auth_method == "client_secret_post"


def test_pingfederate_refuses_json_and_bad_secrets(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(PingPersonality("pingfederate"))
    json_profile = vendor_profile(
        certs, "generic", token_url=f"{emulator.url}/as/token.oauth2", body_format="json"
    )
    with pytest.raises(InvalidRequestError, match="x-www-form-urlencoded"):
        make_registry({"j": json_profile}).get_token("j")
    bad = vendor_profile(
        certs, "ping", product="pingfederate", base_url=emulator.url, client_secret="x"
    )
    with pytest.raises(InvalidClientError):
        make_registry({"b": bad}).get_token("b")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"product": "pingone"}, r"profiles\.p\.environment_id: required"),
        ({"product": "forgerock", "base_url": "https://h"}, r"profiles\.p\.realm: required"),
        (
            {"product": "pingfederate", "base_url": "https://h", "realm": "a"},
            r"profiles\.p\.realm: realm is not used",
        ),
        ({"product": "pingone", "environment_id": "e", "region": "us"}, r"profiles\.p\.region"),
        ({"product": "pingdirectory"}, r"profiles\.p\.product"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str, make_registry: Any) -> None:
    profile = {"provider": "ping", "client_id": "c", "client_secret": "s", **options}
    with pytest.raises(ConfigError, match=message):
        make_registry({"p": profile})
