"""The CLI's file cache: shared between calls, served warm without heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client, without_coverage
from tokenrack.cli.warm import fresh_for
from tokenrack.testing import TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
HEAVY = ("requests", "jsonschema", "stevedore", "redis", "yaml", "urllib3", "cryptography")


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


@pytest.fixture
def cache_home(tmp_path: Path) -> Path:
    home = tmp_path / "xdg-cache"
    home.mkdir()
    return home


def config(tmp_path: Path, emulator: TokenEmulator, **extra: Any) -> Path:
    profile = {
        "provider": "generic",
        "token_url": "${EMU_URL}/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": {"env": "CANARY_SECRET"},
        **extra,
    }
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "profiles": {"billing": profile}}))
    return path


def env(emulator: TokenEmulator, cache_home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CANARY_SECRET": SECRET,
        "EMU_URL": emulator.url,
        "XDG_CACHE_HOME": str(cache_home),
        **extra,
    }


def token(path: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [TOKENRACK, "--config", str(path), "token", "billing", *args],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_calls_share_the_file_cache(tmp_path: Path, emu: TokenEmulator, cache_home: Path) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    printed = {token(path, environment).stdout for _ in range(4)}
    assert len(printed) == 1 and emu.request_count == 1


def test_a_warm_call_imports_nothing_heavy(
    tmp_path: Path, emu: TokenEmulator, cache_home: Path
) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)  # cold: loads everything, fills the cache and the snapshot
    # The real console script, with Python reporting every module it imports.
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            TOKENRACK,
            "--config",
            str(path),
            "token",
            "billing",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
    assert "tokenrack.cli.main" not in imported  # not even argparse's command line
    assert json.loads(done.stdout)["access_token"] == emu.issued_tokens[0]
    assert emu.request_count == 1


def test_exec_is_served_warm_too(tmp_path: Path, emu: TokenEmulator, cache_home: Path) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)
    done = subprocess.run(
        [
            TOKENRACK,
            "--config",
            str(path),
            "exec",
            "billing",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['TOKENRACK_TOKEN'])",
        ],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        check=True,
    )
    assert done.stdout.strip() == emu.issued_tokens[0] and emu.request_count == 1


@pytest.mark.parametrize("change", ["config-file", "variable"])
def test_a_changed_config_or_variable_takes_the_full_path(
    change: str, tmp_path: Path, emu: TokenEmulator, cache_home: Path
) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)
    if change == "config-file":
        config(tmp_path, emu, scopes=["other"])  # another token: must not be served the old one
    else:
        with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as other:
            environment = env(other, cache_home)  # ${EMU_URL} now names another server
            token(path, environment)
            assert other.request_count == 1
            return
    token(path, environment)
    assert emu.request_count == 2


def test_turning_the_cli_cache_off(tmp_path: Path, emu: TokenEmulator, cache_home: Path) -> None:
    path = config(tmp_path, emu)
    environment = env(emu, cache_home, TOKENRACK_CLI_CACHE="off")
    token(path, environment)
    token(path, environment)
    assert emu.request_count == 2
    # No token and no snapshot on disk; only the validation record, the plugin index, the
    # remembered parsed config (this one holds no secret) and their key (issue 15).
    written = {p.name for p in (cache_home / "tokenrack").iterdir()}
    assert written <= {"validated.json", "plugins.json", "parsed", "fingerprint.key"}


def test_a_profile_that_says_memory_is_never_cached_on_disk(
    tmp_path: Path, emu: TokenEmulator, cache_home: Path
) -> None:
    path, environment = config(tmp_path, emu, cache="memory"), env(emu, cache_home)
    token(path, environment)
    token(path, environment)
    assert emu.request_count == 2


def test_an_untrusted_snapshot_directory_is_ignored(
    tmp_path: Path, emu: TokenEmulator, cache_home: Path
) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)
    (cache_home / "tokenrack" / "cli").chmod(0o777)
    token(path, environment)  # not warm: the full path, which still finds the token on file
    assert emu.request_count == 1
    probe = (
        "import sys\nfrom tokenrack.cli.main import main\n"
        f"main(['--config', {str(path)!r}, 'token', 'billing'])\n"
        "print('tokenrack.core.registry' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        check=True,
    )
    assert done.stderr.strip() == "True"


def test_nothing_on_disk_names_or_holds_a_secret(
    tmp_path: Path, emu: TokenEmulator, cache_home: Path
) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)
    for file in (cache_home / "tokenrack").rglob("*"):
        assert SECRET not in file.name and CLIENT_ID not in file.name and "billing" not in file.name
        assert os.stat(file).st_mode & 0o077 == 0
        if file.is_file() and file.suffix == ".json":  # the snapshot holds no token either
            text = file.read_text()
            assert SECRET not in text and TOKEN_MARK not in text


def test_cache_list_and_purge(tmp_path: Path, emu: TokenEmulator, cache_home: Path) -> None:
    path, environment = config(tmp_path, emu), env(emu, cache_home)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TOKENRACK, "--config", str(path), *args],
            capture_output=True,
            text=True,
            env=without_coverage(environment),
            check=False,
        )

    assert json.loads(cli("cache", "list", "--json").stdout)[0]["state"] == "absent"
    token(path, environment)
    listing = cli("cache", "list")
    assert listing.returncode == 0 and "billing" in listing.stdout and "fresh" in listing.stdout
    assert TOKEN_MARK not in listing.stdout and SECRET not in listing.stdout
    (row,) = json.loads(cli("cache", "list", "billing", "--json").stdout)
    assert row["backend"] == "file" and row["state"] == "fresh" and 3500 < row["expires_in"] <= 3600
    assert "fresh" in cli("profiles").stdout.splitlines()[1]
    purged = cli("cache", "purge", "billing")
    assert purged.returncode == 0 and "billing: shared record deleted" in purged.stdout
    token(path, environment)
    assert emu.request_count == 2  # purged: the next call fetched


def test_freshness_rule() -> None:
    # 3600 s token: fresh until 300 s before expiry; 60 s token: until 20 s before.
    assert fresh_for({}, 0.0, 3600.0, 3299.0) > 0 and fresh_for({}, 0.0, 3600.0, 3301.0) < 0
    assert fresh_for({}, 0.0, 60.0, 39.0) > 0 and fresh_for({}, 0.0, 60.0, 41.0) < 0
    assert fresh_for({"refresh_before": 10}, 0.0, 60.0, 49.0) > 0


@pytest.mark.parametrize("refresh_before", [None, 0.0, 10.0, 120.0, 299.0, 600.0, 5000.0])
@pytest.mark.parametrize("lifetime", [1.0, 30.0, 60.0, 299.0, 900.0, 3600.0, 86400.0])
def test_freshness_rule_is_the_stores_early_window(
    refresh_before: float | None, lifetime: float
) -> None:
    # The warm path keeps its own copy of the formula (core.store is too heavy to import
    # there); this pins the copy to the store's windows with jitter 0.
    from tokenrack.core.store import RefreshWindows
    from tokenrack.token import Token

    windows = RefreshWindows(refresh_before=refresh_before, jitter=0.0)
    placeholder = Token(access_token="-", token_type="Bearer", expires_at=lifetime)
    cached = windows.entry(placeholder, obtained_at=100.0, lifetime=lifetime)
    entry = {"refresh_before": refresh_before}
    assert fresh_for(entry, 100.0, lifetime, 100.0) == pytest.approx(cached.refresh_at - 100.0)
