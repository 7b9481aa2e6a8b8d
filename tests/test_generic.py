"""The generic provider: request shape, and the provider contract kit."""

from __future__ import annotations

from urllib.parse import parse_qsl

import responses

from tokenrack.core.registry import Registry
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
