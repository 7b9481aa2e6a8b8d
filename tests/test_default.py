"""The default registry behind tokenrack.get_token and tokenrack.configure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import tokenrack
from tests.conftest import profile
from tokenrack.core import default
from tokenrack.testing import TokenEmulator


@pytest.fixture(autouse=True)
def fresh_default() -> Iterator[None]:
    tokenrack.configure(None)
    yield
    tokenrack.configure(None)


def write_config(path: Path, emulator: TokenEmulator) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "profiles": {"billing": profile(emulator)}}))
    return path


def test_get_token_discovers_the_config_once(
    tmp_path: Path, emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENRACK_CONFIG", str(write_config(tmp_path / "tr.yaml", emulator)))
    registries: list[tokenrack.Registry] = []
    threads = [
        threading.Thread(target=lambda: registries.append(default.default_registry()))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in registries}) == 1  # built once, whatever the race
    token = tokenrack.get_token("billing")
    assert token.access_token in emulator.issued_tokens
    assert tokenrack.get_token("billing") is token


def test_configure_with_a_path_or_a_registry(
    tmp_path: Path, emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENRACK_CONFIG", raising=False)
    registry = tokenrack.configure(write_config(tmp_path / "a.yaml", emulator))
    assert registry is default.default_registry()
    other = tokenrack.Registry.from_dict({"version": 1, "profiles": {"x": profile(emulator)}})
    assert tokenrack.configure(other) is other
    assert default.default_registry().profiles() == ["x"]


def test_no_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENRACK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    if Path("/etc/tokenrack/config.yaml").exists():  # pragma: no cover - machine-specific
        pytest.skip("this machine has /etc/tokenrack/config.yaml")
    with pytest.raises(tokenrack.ConfigError, match="no tokenrack config found"):
        tokenrack.get_token("billing")
