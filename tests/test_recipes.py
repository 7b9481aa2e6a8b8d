"""Every pure-YAML vendor recipe in docs/providers/recipes.md, against the emulator.

Each profile is loaded as written (it must validate, and build the vendor's real URL),
then pointed at the emulator with the canary credentials: the emulator accepts only the
auth method the vendor takes, and the request must carry what the vendor needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK
from tokenrack.core.registry import Registry
from tokenrack.testing import EmulatorClient, TokenEmulator

RECIPES = Path(__file__).resolve().parents[1] / "docs" / "providers" / "recipes.md"

# profile: (the vendor's URL, its auth method, form fields it must send, answer quirks)
EXPECTED: dict[str, tuple[str, str, dict[str, str], dict[str, Any]]] = {
    "spotify": ("https://accounts.spotify.com/api/token", "client_secret_basic", {}, {}),
    "paypal-sandbox": (
        "https://api-m.sandbox.paypal.com/v1/oauth2/token",
        "client_secret_basic",
        {},
        {"extra_response": {"app_id": "APP-80W284485P519543T", "nonce": "2024-01-01Tx"}},
    ),
    "paypal-live": ("https://api-m.paypal.com/v1/oauth2/token", "client_secret_basic", {}, {}),
    "box": (
        "https://api.box.com/oauth2/token",
        "client_secret_post",
        {"box_subject_type": "enterprise", "box_subject_id": "899905961"},
        {"token_type": "bearer", "expires_in": 4102},
    ),
    "adobe": (
        "https://ims-na1.adobelogin.com/ims/token/v3",
        "client_secret_post",
        {"scope": "openid,AdobeID,read_organizations"},
        {"token_type": "bearer", "expires_in": 86399},
    ),
    "databricks": (
        "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com/oidc/v1/token",
        "client_secret_basic",
        {"scope": "all-apis"},
        {},
    ),
    "twilio": (
        "https://oauth.twilio.com/v2/token",
        "client_secret_post",
        {},
        {"extra_response": {"id_token": None, "refresh_token": None}},
    ),
    "atlassian": ("https://auth.atlassian.com/oauth/token", "client_secret_post", {}, {}),
}


def recipes() -> dict[str, dict[str, Any]]:
    text = RECIPES.read_text()
    profiles: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        profiles.update(yaml.safe_load(block)["profiles"])
    return profiles


def test_every_recipe_is_covered() -> None:
    assert set(recipes()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_builds_the_vendors_url(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in re.findall(r"env: (\w+)", RECIPES.read_text()):
        monkeypatch.setenv(variable, "unused")
    registry = Registry.from_dict({"version": 1, "profiles": recipes()})
    request = registry.runtime(name).provider.build_token_request()
    assert request.url == EXPECTED[name][0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_gets_a_token_from_a_strict_emulator(
    name: str, make_registry: Callable[..., Registry]
) -> None:
    url, method, fields, answer = EXPECTED[name]
    client = EmulatorClient(CLIENT_ID, SECRET, auth_methods=frozenset({method}))
    extra = answer.get("extra_response", {})
    settings = {k: v for k, v in answer.items() if k != "extra_response"}
    with TokenEmulator(
        [client], token_path=urlsplit(url).path, token_prefix=f"{TOKEN_MARK}-", **settings
    ) as emulator:
        emulator.extra_response.update(extra)
        everything = recipes()
        profile = dict(everything[name])
        if "extends" in profile:
            profile = {**everything[profile.pop("extends")], **profile}
        profile.update(
            token_url=emulator.url + urlsplit(url).path, client_id=CLIENT_ID, client_secret=SECRET
        )
        token = make_registry({name: profile}).get_token(name)
        sent = emulator.requests[0]
    assert sent.auth_method == method
    for key, value in fields.items():
        assert sent.form_value(key) == value
    assert token.token_type == "Bearer"
    assert token.access_token in emulator.issued_tokens
    if name == "adobe":
        assert token.scopes == ("openid", "AdobeID", "read_organizations")
    if name == "paypal-sandbox":
        assert token.extra["app_id"] == "APP-80W284485P519543T"
