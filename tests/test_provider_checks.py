"""Provider.check_options: run at load, problems under the profile's path, bugs isolated."""

from __future__ import annotations

from typing import Any

import pytest

from tests import test_plugins
from tests.conftest import profile
from tests.test_plugins import Install
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, PluginError
from tokenrack.testing import TokenEmulator

install = test_plugins.install  # the fixture that installs small distributions

CHECKED = """
from tokenrack.plugin import ConfigError, Provider

class CheckedProvider(Provider):
    name = "checked"
    options_schema = {"type": "object", "properties": {"mode": {"type": "string"}}}

    def check_options(self):
        if self.options.get("mode") == "bad":
            raise ConfigError("mode bad is refused", path="mode")
        if self.options.get("mode") == "crash":
            raise KeyError("a bug in the plugin")
"""


def test_problems_are_reported_with_file_profile_and_path(install: Install) -> None:
    install(
        "tokenrack-checked",
        "tokenrack_checked",
        CHECKED,
        {"checked": "tokenrack_checked:CheckedProvider"},
    )
    data: dict[str, Any] = {
        "version": 1,
        "profiles": {
            "a": {
                "provider": "checked",
                "token_url": "https://x/t",
                "mode": "bad",
                "client_id": "c",
                "client_secret": "s",
            }
        },
    }
    with pytest.raises(ConfigError) as caught:
        Registry.from_dict(data, source="tokenrack.yaml").runtime("a")
    error = caught.value
    assert str(error) == "tokenrack.yaml: profiles.a.mode: mode bad is refused"
    assert error.profile == "a" and error.path == "profiles.a.mode"


def test_a_crashing_check_makes_only_that_profile_unusable(
    install: Install,
    emulator: TokenEmulator,
) -> None:
    install(
        "tokenrack-checked",
        "tokenrack_checked",
        CHECKED,
        {"checked": "tokenrack_checked:CheckedProvider"},
    )
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "broken": {
                    "provider": "checked",
                    "token_url": "https://x/t",
                    "mode": "crash",
                    "client_id": "c",
                    "client_secret": "s",
                },
                "ok": profile(emulator),
            },
        }
    )
    assert registry.get_token("ok").access_token in emulator.issued_tokens
    with pytest.raises(PluginError, match="failed to check the profile: KeyError"):
        registry.get_token("broken")
