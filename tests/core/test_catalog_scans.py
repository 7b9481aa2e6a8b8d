"""The installed entry points are read once per process, for every group at once.

Each ``importlib.metadata.entry_points()`` call walks every installed distribution (about
8 ms in this project's venv); reading group by group, or catalog by catalog, paid that
once per group and per registry (the ux review saw the auth-method group enumerated 7
times for one ``get_token``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import profile
from tokenrack import Registry
from tokenrack.core.catalog import AUTH_METHODS, PROVIDERS, PluginCatalog
from tokenrack.testing import TokenEmulator


@pytest.fixture
def scans(
    entry_point_scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """This process's scans; the per-user index that spares the next process its scan has
    tests of its own (test_plugin_index.py)."""
    monkeypatch.setenv("TOKENRACK_PLUGIN_INDEX", "off")
    return entry_point_scans


def test_one_get_token_enumerates_the_entry_points_once(
    scans: list[dict[str, Any]], emulator: TokenEmulator
) -> None:
    data = {"version": 1, "profiles": {"billing": profile(emulator)}}
    with Registry.from_dict(data) as registry:
        registry.get_token("billing")
    assert scans == [{}]


def test_catalogs_in_one_process_share_one_scan(scans: list[dict[str, Any]]) -> None:
    for _ in range(3):
        catalog = PluginCatalog()
        for name in ("client_secret_basic", "client_secret_post", "none"):
            assert catalog.auth_method(name).name == name
        assert catalog.provider("generic").name == "generic"
        catalog.secret_source("env")
    assert scans == [{}]


def test_a_plugin_put_on_sys_path_since_is_seen(
    scans: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "late" not in PluginCatalog().names(PROVIDERS)
    site = tmp_path / "site"
    info = site / "late_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PROVIDERS}]\nlate = late_plugin:Late\n")
    monkeypatch.syspath_prepend(str(site))
    found = [p for p in PluginCatalog().installed(PROVIDERS) if p.name == "late"]
    assert [(p.distribution, p.version) for p in found] == [("late-plugin", "1.0")]
    assert len(scans) == 2
    assert PluginCatalog().names(AUTH_METHODS)  # still one scan for the same sys.path
    assert len(scans) == 2
