"""The catalog reads the installed entry points once per group, not once per plugin.

Each ``importlib.metadata.entry_points()`` call walks every installed distribution (about
10 ms in this project's venv), and a cold ``tokenrack token`` loads a dozen plugins.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from tokenrack.core.catalog import AUTH_METHODS, SECRETS, PluginCatalog


def test_loading_plugins_scans_each_group_once(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[dict[str, Any]] = []
    real = importlib.metadata.entry_points

    def counting(**selection: Any) -> Any:
        scans.append(selection)
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    catalog = PluginCatalog()
    for name in ("client_secret_basic", "client_secret_post", "none"):
        assert catalog.auth_method(name).name == name
    for name in ("env", "file", "command"):
        catalog.secret_source(name)
    assert sorted(s.get("group", "") for s in scans) == sorted([AUTH_METHODS, SECRETS])
