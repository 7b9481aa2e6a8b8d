"""``tokenrack profiles``: an unusable profile's reason fits its row (issue 11 loose end)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.diag_support import emulator, generic, run, use_private_cache, write
from tokenrack.testing import TokenEmulator


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with emulator() as started:
        yield started


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return use_private_cache(tmp_path_factory, monkeypatch)


def test_an_unusable_profile_is_one_table_line_and_json_keeps_every_problem(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    broken = {"provider": "generic", "tokn_url": "http://127.0.0.1:1/t", "scops": ["a"]}
    config = write(tmp_path, {"good": generic(emu), "broken": broken, "after": generic(emu)})
    done = run("profiles", config=config)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # One line per profile: the header, then the three rows (in the file's order).
    assert sorted(line.split()[0] for line in lines) == ["PROFILE", "after", "broken", "good"]
    (row,) = [line for line in lines if line.startswith("broken ")]
    assert "[unusable: profiles.broken" in row
    assert re.search(r"\(and \d+ more: `tokenrack check broken` lists them\)\]$", row)
    listed = {
        item["name"]: item for item in json.loads(run("profiles", "--json", config=config).stdout)
    }
    error = listed["broken"]["error"]
    assert "problems:" in error and "tokn_url" in error and "scops" in error
    assert "error" not in listed["good"]
