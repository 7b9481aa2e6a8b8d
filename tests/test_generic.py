"""The generic provider: request shape, and the provider contract kit."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.oauth.generic import GenericProvider
from tokenrack.testing import ProviderContractTests


class TestGenericContract(ProviderContractTests):
    provider_class = GenericProvider
    entry_point = "generic"
    profile = {
        "token_url": "https://idp.example/oauth/token",
        "client_id": "abc",
        "client_secret": "contract-secret",
        "scopes": ["read", "write"],
        "audience": "https://api.example",
    }


@responses.activate
def test_audience_resources_and_extra_params_in_order() -> None:
    responses.post("https://idp.test/token", json={"access_token": "t", "expires_in": 60})
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "a": {
                    "provider": "generic",
                    "token_url": "https://idp.test/token",
                    "client_id": "c",
                    "client_secret": "s",
                    "scopes": ["read"],
                    "audience": "https://api",
                    "resource": ["https://r1", "https://r2"],
                    "extra_params": {"tenant": "t9", "a": "1"},
                }
            },
        }
    )
    registry.get_token("a")
    (call,) = responses.calls
    assert parse_qsl(call.request.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("audience", "https://api"),
        ("resource", "https://r1"),
        ("resource", "https://r2"),
        ("a", "1"),
        ("tenant", "t9"),
    ]


def test_single_resource_and_cache_key_parts() -> None:
    provider = GenericProvider(
        {
            "token_url": "https://x/t",
            "client_id": "c",
            "scopes": ["b", "a"],
            "resource": "https://r",
        }
    )
    assert provider.build_token_request().form_values("resource") == ["https://r"]
    parts = provider.cache_key_parts()
    assert parts == {
        "provider": "generic",
        "token_url": "https://x/t",
        "client_id": "c",
        "grant_type": "client_credentials",
        "scope": "a b",
        "resource": "https://r",
    }


# -- check_options, one check at a time ---------------------------------------------------


@pytest.mark.parametrize(
    ("options", "messages"),
    [
        ({"token_url": "https://x/{tenant}/t", "token_url_params": {"tenant": "t1"}}, []),
        (
            {"token_url": "https://x/{tenant}/{region}/t", "token_url_params": {"tenant": "t1"}},
            ["the template names {region}, but token_url_params has no 'region'"],
        ),
        ({"token_url": "https://x/{tenant/t"}, ["not a valid URL template: "]),
    ],
)
def test_template_problems(options: dict[str, Any], messages: list[str]) -> None:
    found = GenericProvider({"client_id": "c", **options})._template_problems()
    assert [p.path for p in found] == ["token_url"] * len(messages)
    assert all(p.message.startswith(m) for p, m in zip(found, messages, strict=True))


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"params_in": "query", "client_secret": "s"}, True),
        ({"params_in": "query", "client_secret": "s", "auth_method": "auto"}, True),
        ({"params_in": "query", "client_secret": "s", "allow_secret_in_query": True}, False),
        ({"params_in": "query", "client_secret": "s", "auth_method": "client_secret_basic"}, False),
        ({"params_in": "query"}, False),
        ({"params_in": "body", "client_secret": "s"}, False),
    ],
)
def test_secret_in_query_problem(options: dict[str, Any], refused: bool) -> None:
    provider = GenericProvider({"token_url": "https://x/t", "client_id": "c", **options})
    problem = provider._secret_in_query_problem()
    assert (problem is not None) == refused
    if problem is not None:
        assert problem.path == "params_in" and "client secret in the URL" in problem.message


def test_check_options_reports_both_checks_at_once() -> None:
    provider = GenericProvider(
        {
            "token_url": "https://x/{tenant}/t",
            "client_id": "c",
            "client_secret": "s",
            "params_in": "query",
        }
    )
    with pytest.raises(ConfigError) as caught:
        provider.check_options()
    assert [p.path for p in caught.value.problems] == ["token_url", "params_in"]
