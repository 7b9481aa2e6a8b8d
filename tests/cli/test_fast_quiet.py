"""``tokenrack -q token`` and ``-q exec`` are served warm too (issue 11 loose end)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli_cache import TOKENRACK, config, env, token
from tests.conftest import TOKEN_MARK, canary_client, without_coverage
from tokenrack.cli.fast import _parse
from tokenrack.testing import TokenEmulator


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_quiet_is_read_by_the_fast_path(flag: str) -> None:
    parsed = _parse([flag, "--config", "c.yaml", "token", "billing", "--json"])
    assert parsed is not None and parsed["config"] == "c.yaml" and parsed["format"] == "json"
    parsed = _parse(["--config", "c.yaml", flag, "exec", "billing", "--", "cmd"])
    assert parsed is not None and parsed["argv"] == ["cmd"]
    # Not after the command, nor with a value: the full command line says why.
    assert _parse(["token", "billing", flag]) is None
    assert _parse([f"{flag}=1", "token", "billing"]) is None


@pytest.mark.parametrize("command", ["token", "exec"])
def test_a_quiet_warm_call_never_loads_the_full_command_line(
    command: str, tmp_path: Path, emu: TokenEmulator
) -> None:
    cache_home = tmp_path / "xdg-cache"
    cache_home.mkdir()
    path, environment = config(tmp_path, emu), env(emu, cache_home)
    token(path, environment)  # cold: fills the cache and the snapshot
    tail = ["--", sys.executable, "-c", "import os; print(os.environ['TOKENRACK_TOKEN'])"]
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            TOKENRACK,
            "-q",
            "--config",
            str(path),
            command,
            "billing",
            *(tail if command == "exec" else []),
        ],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        timeout=60,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "tokenrack.cli.main" not in imported  # served by the fast path
    assert done.stdout.strip() == emu.issued_tokens[0]
    assert emu.request_count == 1
