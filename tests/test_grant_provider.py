"""A provider whose grant carries its own credential: `none`, no client_id, its own errors.

The shape the `google` provider has (RFC 7523 §2.1), reduced to a third-party plugin
installed for the test: it declares `none` as its only auth method, needs no `client_id`,
signs nothing the core knows about, and reports unusable material in its own secret as a
ConfigError that the core places under the profile.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

from tests import test_plugins
from tests.test_plugins import Install
from tokenrack.auth.methods import ClientCredentials, NoClientAuth
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.oauth.message import TokenRequest

install = test_plugins.install  # the fixture that installs small distributions

TOKEN_URL = "https://grant.test/token"
GRANT_PROVIDER = """
from tokenrack.plugin import ConfigError, Provider, Secret, TokenRequest

class GrantProvider(Provider):
    name = "grant"
    default_auth_method = "none"
    supported_auth_methods = frozenset({"none"})
    grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    secret_options = frozenset({"grant_key"})
    options_schema = {
        "type": "object",
        "required": ["grant_key"],
        "properties": {"grant_key": {}},
    }

    def token_flow(self, secrets):
        key = secrets["grant_key"].reveal()
        if not key.startswith("key-"):
            raise ConfigError("not a grant key (expected key-…)", path="grant_key")
        response = yield TokenRequest(
            url=self.token_url(),
            form=(("grant_type", self.grant_type), ("assertion", Secret("signed-by-" + key))),
            authenticate=False,
        )
        return self.parse_token_response(response)
"""


@pytest.fixture
def grant(install: Install) -> None:
    install(
        "tokenrack-grant",
        "tokenrack_grant",
        GRANT_PROVIDER,
        {"grant": "tokenrack_grant:GrantProvider"},
    )


def registry(**options: Any) -> Registry:
    base = {"provider": "grant", "token_url": TOKEN_URL, "grant_key": "key-1", **options}
    return Registry.from_dict({"version": 1, "profiles": {"a": base}}, source="tokenrack.yaml")


@responses.activate
def test_a_grant_provider_needs_no_client_id_and_gets_no_client_auth(grant: None) -> None:
    responses.post(TOKEN_URL, json={"access_token": "t", "token_type": "Bearer", "expires_in": 60})
    loaded = registry()
    assert loaded.runtime("a").config.auth_method == "none"
    loaded.get_token("a")
    (call,) = responses.calls
    form = dict(parse_qsl(call.request.body.decode()))
    assert form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": "signed-by-key-1",
    }
    assert "Authorization" not in call.request.headers


def test_another_auth_method_is_refused_at_load(grant: None) -> None:
    with pytest.raises(
        ConfigError, match="provider 'grant' does not support 'client_secret_basic'"
    ):
        registry(auth_method="client_secret_basic", client_id="c", client_secret="s").runtime("a")


def test_the_providers_fetch_time_config_error_is_placed_in_file_and_profile(grant: None) -> None:
    with pytest.raises(ConfigError) as caught:
        registry(grant_key="not-a-key").get_token("a")
    error = caught.value
    assert str(error) == "tokenrack.yaml: profiles.a.grant_key: not a grant key (expected key-…)"
    assert error.profile == "a" and error.path == "profiles.a.grant_key"
    assert "not-a-key" not in str(error)


def test_a_public_client_still_needs_its_client_id() -> None:
    with pytest.raises(ConfigError, match=r"profiles\.a\.client_id: required, but missing"):
        Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "a": {"provider": "generic", "token_url": TOKEN_URL, "auth_method": "none"}
                },
            }
        ).runtime("a")


def test_none_without_a_client_id_refuses_to_send_an_anonymous_request() -> None:
    request = TokenRequest(url=TOKEN_URL, form=(("grant_type", "client_credentials"),))
    with pytest.raises(ConfigError, match=r"profiles\.a\.client_id: .*identify a public client"):
        NoClientAuth().authenticate(request, ClientCredentials(profile="a", client_id=""))
    sent = NoClientAuth().authenticate(request, ClientCredentials(profile="a", client_id="app"))
    assert sent.form_value("client_id") == "app"
