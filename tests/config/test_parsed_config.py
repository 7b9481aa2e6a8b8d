"""A config file parsed before is read from its remembered data while it is unchanged.

The data is kept only for a file that holds no secret, under an HMAC of the file's exact
bytes, signed with the per-user key: a changed file is parsed (and checked) again, a
forged or foreign entry is ignored, and a file with an inline secret is never copied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, without_coverage
from tokenrack import ConfigError, Registry
from tokenrack.config import parsed
from tokenrack.config.marks import LocatedProblem
from tokenrack.testing import TokenEmulator

CONFIG = """\
version: 1
profiles:
  billing:
    provider: generic
    token_url: {url}
    client_id: {client}
    client_secret: {{env: PARSED_SECRET}}
    allow_insecure_http: true
    scopes: [read, write]
"""


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv(parsed.SWITCH, raising=False)
    monkeypatch.setenv("PARSED_SECRET", SECRET)
    return home


def _entries(cache_home: Path) -> list[Path]:
    directory = cache_home / "tokenrack" / "parsed"
    return sorted(directory.iterdir()) if directory.exists() else []


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def _config(tmp_path: Path, emulator: TokenEmulator) -> Path:
    return _write(
        tmp_path / "tokenrack.yaml", CONFIG.format(url=emulator.token_url, client=CLIENT_ID)
    )


def _load(path: Path) -> Registry:
    return Registry.from_file(path)


def test_an_unchanged_file_is_not_parsed_again(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    path = _config(tmp_path, emulator)
    with _load(path) as first:
        first_profiles = first.profiles()
    (entry,) = _entries(cache_home)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert path.name not in entry.name and "billing" not in entry.name
    code = (
        "import sys, tokenrack\n"
        "print(tokenrack.get_token('billing').access_token[:11])\n"
        "print('yaml' in sys.modules)\n"
    )
    env = without_coverage()
    env.update(TOKENRACK_CONFIG=str(path), XDG_CACHE_HOME=str(cache_home))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [TOKEN_MARK, "False"]
    with _load(path) as again:
        assert again.profiles() == first_profiles


def test_a_changed_file_is_parsed_and_checked_again(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    path = _config(tmp_path, emulator)
    _load(path).close()
    _write(path, path.read_text() + "    client_id: repeated\n")
    with pytest.raises(ConfigError, match="client_id"):
        _load(path)


def test_a_file_with_an_inline_secret_is_never_copied(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    text = CONFIG.format(url=emulator.token_url, client=CLIENT_ID).replace(
        "{env: PARSED_SECRET}", json.dumps(SECRET)
    )
    path = _write(tmp_path / "tokenrack.yaml", text)
    with _load(path) as registry:
        assert registry.get_token("billing").access_token.startswith(TOKEN_MARK)
    assert _entries(cache_home) == []
    for root, _, files in os.walk(cache_home):
        for name in files:
            assert SECRET.encode() not in (Path(root) / name).read_bytes()


@pytest.mark.parametrize(
    "extra",
    [
        "    cache: {backend: redis, url: 'redis://127.0.0.1:1/0', password: hunter2-pw}\n",
        "agent:\n  profiles: {billing: {uids: [0]}}\n",
    ],
    ids=["inline cache password", "agent section"],
)
def test_a_cache_secret_or_an_agent_section_is_never_copied(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator, extra: str
) -> None:
    path = _write(
        tmp_path / "tokenrack.yaml",
        CONFIG.format(url=emulator.token_url, client=CLIENT_ID) + extra,
    )
    Registry.from_file(path).close()
    assert _entries(cache_home) == []


def test_a_forged_entry_is_ignored(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    path = _config(tmp_path, emulator)
    _load(path).close()
    (entry,) = _entries(cache_home)
    mac, _, body = entry.read_bytes().partition(b"\n")
    data = json.loads(body)
    data["profiles"]["billing"]["token_url"] = "https://attacker.test/token"
    entry.write_bytes(mac + b"\n" + json.dumps(data, separators=(",", ":")).encode())
    with _load(path) as registry:
        assert registry.config.profile("billing").options["token_url"] == emulator.token_url


def test_an_entry_others_may_write_is_ignored(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    path = _config(tmp_path, emulator)
    _load(path).close()
    (entry,) = _entries(cache_home)
    entry.chmod(0o666)
    with _load(path) as registry:
        assert registry.config.profile("billing").options["token_url"] == emulator.token_url


def test_messages_from_a_remembered_file_still_say_where(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    path = _write(
        tmp_path / "tokenrack.yaml",
        CONFIG.format(url=emulator.token_url, client=CLIENT_ID) + "    timeout: -1\n",
    )
    for _ in range(2):  # parsed, then remembered
        with _load(path) as registry:
            error = registry.problems()["billing"]
        assert isinstance(error, ConfigError)
        (problem,) = [p for p in error.problems if p.path.endswith("timeout")]
        assert isinstance(problem, LocatedProblem)
        assert (problem.line, problem.column) == (10, 5)
    assert len(_entries(cache_home)) == 1


def test_data_json_would_change_is_not_remembered(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator
) -> None:
    # A date and a non-string key: JSON would hand back a string for each.
    path = _write(
        tmp_path / "tokenrack.yaml",
        CONFIG.format(url=emulator.token_url, client=CLIENT_ID)
        + "  other:\n    provider: generic\n    client_id: 2024-01-01\n    1: one\n",
    )
    _load(path).close()
    assert _entries(cache_home) == []


def test_turned_off_nothing_is_remembered(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(parsed.SWITCH, "off")
    _load(_config(tmp_path, emulator)).close()
    assert not (cache_home / "tokenrack" / "parsed").exists()


def test_only_the_newest_entries_are_kept(
    cache_home: Path, tmp_path: Path, emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsed, "KEPT", 3)
    for index in range(5):
        path = _write(
            tmp_path / f"c{index}.yaml",
            CONFIG.format(url=emulator.token_url, client=f"client-{index}"),
        )
        _load(path).close()
    assert len(_entries(cache_home)) == 3
