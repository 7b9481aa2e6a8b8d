"""The azure provider against the Entra personality: v2, v1, B2C, clouds, Entra's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tokenrack_providers.azure import AzureProvider
from tokenrack_providers.testing.personalities import EntraPersonality

from tests.conftest import canary_client
from tests.providers.conftest import StartEmulator, vendor_profile
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError, InvalidScopeError
from tokenrack.testing import ProviderContractTests
from tokenrack.testing.tls import TestCertificates

GRAPH = "https://graph.microsoft.com"


class TestAzureContract(ProviderContractTests):
    provider_class = AzureProvider
    entry_point = "azure"
    profile = {
        "tenant": "contoso.onmicrosoft.com",
        "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "client_secret": "contract-secret",
        "resource": GRAPH,
    }


def url(**options: Any) -> str:
    return AzureProvider({"client_id": "c", **options}).build_token_request().url


def test_templates_for_each_cloud_version_and_b2c() -> None:
    assert url(tenant="t", resource=GRAPH) == (
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    )
    assert url(tenant="t", resource=GRAPH, cloud="usgov") == (
        "https://login.microsoftonline.us/t/oauth2/v2.0/token"
    )
    assert url(tenant="t", resource=GRAPH, cloud="china") == (
        "https://login.chinacloudapi.cn/t/oauth2/v2.0/token"
    )
    assert url(tenant="t", resource=GRAPH, api_version=1) == (
        "https://login.microsoftonline.com/t/oauth2/token"
    )
    assert url(b2c_tenant="contosob2c", policy="B2C_1_cc", scopes=["x/.default"]) == (
        "https://contosob2c.b2clogin.com/contosob2c.onmicrosoft.com/B2C_1_cc/oauth2/v2.0/token"
    )


def test_resource_becomes_one_default_scope_on_v2_and_a_parameter_on_v1() -> None:
    v2 = AzureProvider({"tenant": "t", "client_id": "c", "resource": GRAPH})
    assert v2.build_token_request().form_value("scope") == f"{GRAPH}/.default"
    assert v2.build_token_request().form_value("resource") is None
    v1 = AzureProvider({"tenant": "t", "client_id": "c", "resource": GRAPH, "api_version": 1})
    assert v1.build_token_request().form_value("resource") == GRAPH
    assert v1.build_token_request().form_value("scope") is None


@pytest.fixture
def entra(start: StartEmulator, certs: TestCertificates) -> Callable[..., Registry]:
    emulator = start(EntraPersonality())

    def build(make_registry: Callable[..., Registry], **options: Any) -> Registry:
        base = vendor_profile(
            certs,
            "azure",
            tenant="contoso.onmicrosoft.com",
            authority_host=f"https://127.0.0.1:{emulator.port}",
        )
        return make_registry({"graph": {**base, **options}})

    build.emulator = emulator  # type: ignore[attr-defined]
    return build


def test_v2_token_with_secret_in_the_body(entra: Any, make_registry: Any) -> None:
    registry = entra(make_registry, resource=GRAPH)
    token = registry.get_token("graph")
    emulator = entra.emulator
    sent = emulator.requests[0]
    assert sent.path == "/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert sent.auth_method == "client_secret_post"
    assert sent.form_value("scope") == f"{GRAPH}/.default"
    assert token.access_token in emulator.issued_tokens
    assert token.token_type == "Bearer"
    assert token.expires_in() > 3000
    assert "ext_expires_in" in token.extra


def test_a_resource_ending_in_a_slash_keeps_it(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    # Azure SQL's application ID URI ends in "/": Entra wants the scope with a double
    # slash, and this app is only granted that one (issue 13).
    sql = "https://database.windows.net/"
    emulator = start(EntraPersonality(), [canary_client(scopes=frozenset({f"{sql}/.default"}))])
    registry = make_registry(
        {
            "sql": vendor_profile(
                certs,
                "azure",
                tenant="contoso.onmicrosoft.com",
                authority_host=f"https://127.0.0.1:{emulator.port}",
                resource=sql,
            )
        }
    )
    assert registry.get_token("sql").access_token
    assert emulator.requests[0].form_value("scope") == "https://database.windows.net//.default"


def test_v1_token_with_string_lifetimes(entra: Any, make_registry: Any) -> None:
    registry = entra(make_registry, resource=GRAPH, api_version=1)
    token = registry.get_token("graph")
    sent = entra.emulator.requests[0]
    assert sent.path == "/contoso.onmicrosoft.com/oauth2/token"
    assert sent.form_value("resource") == GRAPH
    assert isinstance(token.extra["ext_expires_in"], str)
    assert 3000 < token.expires_in() <= 3600


def test_scope_without_default_gets_entras_aadsts70011(entra: Any, make_registry: Any) -> None:
    registry = entra(make_registry, scopes=["User.Read"])
    with pytest.raises(InvalidScopeError) as caught:
        registry.get_token("graph")
    error = caught.value
    assert error.status == 400
    assert error.error_description is not None
    assert error.error_description.startswith("AADSTS70011:")
    assert error.details["error_codes"] == "70011"
    assert error.details["trace_id"] and error.details["correlation_id"]
    assert "error_codes=70011" in str(error) and "profile 'graph'" in str(error)


def test_wrong_secret_gets_entras_invalid_client(
    entra: Any, make_registry: Any, certs: TestCertificates
) -> None:
    registry = entra(make_registry, resource=GRAPH, client_secret="not-the-secret")
    with pytest.raises(InvalidClientError) as caught:
        registry.get_token("graph")
    assert caught.value.details["error_codes"] == "7000215"


def test_basic_is_accepted_too(entra: Any, make_registry: Any) -> None:
    registry = entra(make_registry, resource=GRAPH, auth_method="client_secret_basic")
    registry.get_token("graph")
    assert entra.emulator.requests[0].auth_method == "client_secret_basic"


def test_b2c_path_through_authority_host(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(EntraPersonality())
    profile = vendor_profile(
        certs,
        "azure",
        b2c_tenant="contosob2c",
        policy="B2C_1_cc",
        authority_host=f"https://127.0.0.1:{emulator.port}",
        scopes=["https://contosob2c.onmicrosoft.com/api/.default"],
    )
    make_registry({"b2c": profile}).get_token("b2c")
    assert emulator.requests[0].path == "/contosob2c.onmicrosoft.com/B2C_1_cc/oauth2/v2.0/token"


def test_token_url_override_wins_and_resource_rewrite_still_applies(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(EntraPersonality())
    profile = vendor_profile(
        certs,
        "azure",
        tenant="ignored-by-the-override",
        resource=GRAPH,
        token_url=f"https://127.0.0.1:{emulator.port}/egress/oauth2/v2.0/token",
    )
    make_registry({"graph": profile}).get_token("graph")
    sent = emulator.requests[0]
    assert sent.path == "/egress/oauth2/v2.0/token"
    assert sent.form_value("scope") == f"{GRAPH}/.default"
    assert sent.auth_method == "client_secret_post"


@pytest.mark.parametrize(
    ("options", "path", "words"),
    [
        ({"resource": [GRAPH, "https://vault.azure.net"]}, "resource", "one resource"),
        ({"resource": GRAPH, "scopes": [f"{GRAPH}/.default"]}, "scopes", "not both"),
        ({}, "resource", "needs a resource"),
        ({"api_version": 1, "scopes": ["x/.default"]}, "scopes", "v1 endpoint"),
        ({"api_version": 1}, "resource", "needs resource"),
        (
            {"resource": GRAPH, "cloud": "china", "authority_host": "https://x"},
            "authority_host",
            "set cloud or authority_host, not both",
        ),
        (
            {"b2c_tenant": "b", "policy": "B2C_1_c", "api_version": 1, "resource": GRAPH},
            "api_version",
            "B2C has no v1 endpoint; remove api_version",
        ),
        ({"resource": GRAPH, "api_version": 2, "scopes": ["x/.default"]}, "scopes", "not both"),
        ({"api_version": 1, "resource": GRAPH, "scopes": ["x"]}, "scopes", "v1 endpoint takes"),
        ({"tenannt": "t", "resource": GRAPH}, "tenannt", "did you mean 'tenant'"),
        ({"resource": GRAPH, "cloud": "germany"}, "cloud", "one of"),
    ],
)
def test_config_errors_name_the_path(
    options: dict[str, Any], path: str, words: str, make_registry: Any
) -> None:
    base = {"provider": "azure", "client_id": "c", "client_secret": "s", "tenant": "t"}
    if "tenannt" in options:
        base.pop("tenant")
    with pytest.raises(ConfigError) as caught:
        make_registry({"graph": {**base, **options}})
    assert f"profiles.graph.{path}" in str(caught.value)
    assert words in str(caught.value)


def test_missing_tenant_is_reported_at_load(make_registry: Any) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.graph\.tenant: required, but missing"):
        make_registry({"graph": {"provider": "azure", "client_id": "c", "client_secret": "s"}})


def test_b2c_needs_a_policy(make_registry: Any) -> None:
    profile = {"provider": "azure", "client_id": "c", "client_secret": "s", "b2c_tenant": "b"}
    with pytest.raises(ConfigError, match=r"profiles\.b\.policy: required, but missing"):
        make_registry({"b": {**profile, "scopes": ["x/.default"]}})


@pytest.mark.parametrize(
    "options",
    [
        {"resource": GRAPH, "scopes": []},  # an empty list asks for nothing
        {"api_version": 1, "resource": GRAPH, "scopes": []},
        {"resource": GRAPH, "authority_host": "https://login.example"},
        {"resource": GRAPH, "cloud": "usgov"},
        {"scopes": [f"{GRAPH}/.default"], "api_version": 2},
    ],
)
def test_keys_that_do_not_exclude_each_other_load(
    options: dict[str, Any], make_registry: Any
) -> None:
    base = {"provider": "azure", "client_id": "c", "client_secret": "s", "tenant": "t"}
    make_registry({"graph": {**base, **options}})


def test_the_editor_schema_keeps_the_exclusions_without_forbidding_either_key() -> None:
    # The editor schema drops every "required"; the exclusions must not need one.
    from jsonschema import Draft202012Validator

    from tokenrack.config.schema import profile_schema

    schema = profile_schema(
        provider_schema=AzureProvider.options_schema,
        auth_method_properties=[],
        sources={},
        require=False,
    )
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"provider": "azure", "authority_host": "https://login.example"})
    assert validator.is_valid({"provider": "azure", "cloud": "china"})
    assert not validator.is_valid(
        {"provider": "azure", "cloud": "china", "authority_host": "https://x.example"}
    )
