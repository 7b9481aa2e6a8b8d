"""The per-user index of entry points spares a new process the scan of every distribution.

It is untrusted input (a file in the user's cache directory): it is used only when its
HMAC, under the per-user key, is right, when nothing on ``sys.path`` changed since it was
written, and when it is a private regular file of ours; anything else means a scan.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import profile
from tokenrack import Registry
from tokenrack.core import catalog as catalog_module
from tokenrack.core import plugin_index
from tokenrack.core.catalog import PROVIDERS, SECRETS, PluginCatalog
from tokenrack.testing import TokenEmulator


@pytest.fixture
def scans(
    entry_point_scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[dict[str, Any]]:
    """Every entry-point enumeration, with a cache directory of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TOKENRACK_PLUGIN_INDEX", raising=False)
    return entry_point_scans


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget this process's scan, as a new process starts without one."""
    monkeypatch.setattr(catalog_module, "_scanned", None)


def _index_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tokenrack" / plugin_index.INDEX_FILE


def _listing(catalog: PluginCatalog) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (p.group, p.name, p.value, p.distribution, p.version)
        for group in catalog_module.GROUPS
        for p in catalog.installed(group)
    ]


def test_the_next_process_reads_the_index_instead_of_scanning(
    scans: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    emulator: TokenEmulator,
) -> None:
    scanned = _listing(PluginCatalog())
    assert scans == [{}]
    assert _index_path(tmp_path).stat().st_mode & 0o777 == 0o600
    _new_process(monkeypatch)
    assert _listing(PluginCatalog()) == scanned
    assert scans == [{}]  # no second scan
    # Plugins listed from the index load as scanned ones do.
    _new_process(monkeypatch)
    data = {"version": 1, "profiles": {"billing": profile(emulator)}}
    with Registry.from_dict(data) as registry:
        assert registry.get_token("billing").access_token
    assert scans == [{}]


def test_the_index_names_no_secret_and_no_path_outside_the_scan(
    scans: list[dict[str, Any]], tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    document = json.loads(_index_path(tmp_path).read_text())
    assert set(document) == {"version", "scans"}
    (scan,) = document["scans"]
    assert set(scan) == {"state", "groups", "mac"}
    assert {name for name, *_ in scan["groups"][SECRETS]} >= {"env", "file", "command"}


def test_a_forged_index_is_ignored(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    path = _index_path(tmp_path)
    document = json.loads(path.read_text())
    # Point the generic provider at another module, keeping the old MAC.
    (scan,) = document["scans"]
    scan["groups"][PROVIDERS] = [
        [name, "os:system" if name == "generic" else value, dist, version]
        for name, value, dist, version in scan["groups"][PROVIDERS]
    ]
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    _new_process(monkeypatch)
    (generic,) = [p for p in PluginCatalog().installed(PROVIDERS) if p.name == "generic"]
    assert generic.value == "tokenrack.oauth.generic:GenericProvider"
    assert len(scans) == 2  # scanned again


def test_an_index_under_another_key_is_ignored(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    key = tmp_path / "cache" / "tokenrack" / "fingerprint.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    _new_process(monkeypatch)
    PluginCatalog().names(PROVIDERS)
    assert len(scans) == 2


def test_an_index_others_may_write_is_ignored(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    _index_path(tmp_path).chmod(0o622)
    _new_process(monkeypatch)
    PluginCatalog().names(PROVIDERS)
    assert len(scans) == 2


def test_garbage_in_the_index_means_a_scan(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    path = _index_path(tmp_path)
    for garbage in (b"", b"not json", b"[]", b'{"version": 1}', os.urandom(64)):
        path.write_bytes(garbage)
        path.chmod(0o600)
        _new_process(monkeypatch)
        assert "generic" in PluginCatalog().names(PROVIDERS)
    assert len(scans) == 6


def test_a_plugin_installed_since_makes_the_index_stale(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert "late" not in PluginCatalog().names(PROVIDERS)
    info = site / "late_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PROVIDERS}]\nlate = late_plugin:Late\n")
    _new_process(monkeypatch)
    assert "late" in PluginCatalog().names(PROVIDERS)
    # Its entry points edited in place: stale again.
    (info / "entry_points.txt").write_text(f"[{PROVIDERS}]\nlater = late_plugin:Late\n")
    os.utime(info / "entry_points.txt", ns=(1, 1))
    _new_process(monkeypatch)
    names = PluginCatalog().names(PROVIDERS)
    assert "later" in names and "late" not in names
    assert len(scans) == 3


def test_processes_with_another_sys_path_keep_their_own_scan(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    PluginCatalog().names(PROVIDERS)
    elsewhere = tmp_path / "script-dir"
    elsewhere.mkdir()
    with monkeypatch.context() as other:
        other.syspath_prepend(str(elsewhere))
        _new_process(other)
        PluginCatalog().names(PROVIDERS)
    assert len(scans) == 2
    for path in ([str(elsewhere)], []):  # each finds its own scan now
        with monkeypatch.context() as again:
            for entry in path:
                again.syspath_prepend(entry)
            _new_process(again)
            PluginCatalog().names(PROVIDERS)
    assert len(scans) == 2
    assert len(json.loads(_index_path(tmp_path).read_text())["scans"]) == 2


def test_turned_off_it_is_neither_read_nor_written(
    scans: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOKENRACK_PLUGIN_INDEX", "off")
    PluginCatalog().names(PROVIDERS)
    _new_process(monkeypatch)
    PluginCatalog().names(PROVIDERS)
    assert len(scans) == 2
    assert not _index_path(tmp_path).exists()
