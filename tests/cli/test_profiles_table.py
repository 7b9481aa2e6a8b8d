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


def test_the_table_pauses_the_collector_and_gives_it_back(
    tmp_path: Path, emu: TokenEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    from tokenrack.cli.main import main

    config = write(tmp_path, {f"p{i}": generic(emu) for i in range(3)})
    seen: list[bool] = []
    from tokenrack.cli import admin_cmd

    real = admin_cmd._row

    def row(registry: object, name: str) -> dict[str, object]:
        seen.append(gc.isenabled())
        return real(registry, name)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admin_cmd, "_row", row)
        assert main(["--config", str(config), "profiles"]) == 0
    assert seen == [False, False, False]  # the rows are built with the collector paused
    assert gc.isenabled()
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "PROFILE",
        "p0",
        "p1",
        "p2",
    ]
