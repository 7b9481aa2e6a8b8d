"""Discovery obeys only files that nobody but you (or root) can have written (F3's rules)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from tokenrack.config.discover import discover_config_path, untrusted_reason
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError

BODY = {
    "version": 1,
    "profiles": {
        "p": {
            "provider": "generic",
            "token_url": "https://idp.example/token",
            "client_id": "svc",
            "client_secret": {"env": "NOT_READ_AT_LOAD"},
        }
    },
}


def _file(directory: Path, mode: int = 0o600, name: str = "tokenrack.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(BODY))
    path.chmod(mode)
    return path


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    xdg = tmp_path / "xdg"
    _file(xdg / "tokenrack", name="config.yaml")
    return {"XDG_CONFIG_HOME": str(xdg)}


def test_own_file_in_a_private_directory_is_trusted_and_comes_first(
    tmp_path: Path, home: dict[str, str]
) -> None:
    cwd = tmp_path / "cwd"
    local = _file(cwd, 0o644)
    cwd.chmod(0o755)
    assert untrusted_reason(local) is None
    assert discover_config_path(home, cwd) == local


@pytest.mark.parametrize(
    ("file_mode", "dir_mode", "reason"),
    [
        (0o664, 0o755, "it is writable by its group (mode 0664)"),
        (0o646, 0o755, "it is writable by others (mode 0646)"),
        (0o644, 0o775, "is writable by its group (mode 0775)"),
        (0o644, 0o777, "is writable by its group and others (mode 0777)"),
    ],
)
def test_writable_file_or_directory_is_skipped_with_a_warning(
    tmp_path: Path,
    home: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    file_mode: int,
    dir_mode: int,
    reason: str,
) -> None:
    cwd = tmp_path / "cwd"
    local = _file(cwd, file_mode)
    cwd.chmod(dir_mode)
    caplog.set_level(logging.WARNING, logger="tokenrack.config")
    found = discover_config_path(home, cwd)
    assert found == Path(home["XDG_CONFIG_HOME"]) / "tokenrack" / "config.yaml"
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"skipping config {local}" in message and reason in message


def test_own_file_in_a_sticky_directory_is_trusted(tmp_path: Path, home: dict[str, str]) -> None:
    shared = tmp_path / "sticky"
    local = _file(shared, 0o600)
    shared.chmod(0o1777)  # like /tmp: others cannot replace a file they do not own
    assert untrusted_reason(local) is None
    assert discover_config_path(home, shared) == local


def test_symlink_into_a_writable_directory_is_skipped(tmp_path: Path, home: dict[str, str]) -> None:
    shared = tmp_path / "shared"
    target = _file(shared, 0o644, "real.yaml")
    shared.chmod(0o777)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "tokenrack.yaml").symlink_to(target)
    reason = untrusted_reason(cwd / "tokenrack.yaml")
    assert reason is not None and str(shared) in reason


def test_nothing_usable_says_what_was_skipped(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    local = _file(cwd, 0o666)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    if Path("/etc/tokenrack/config.yaml").exists():  # pragma: no cover - machine-specific
        pytest.skip("this machine has /etc/tokenrack/config.yaml")
    with pytest.raises(ConfigError, match="skipped, as someone else may write them") as caught:
        discover_config_path(env, cwd)
    assert str(local) in str(caught.value)


def test_explicit_writable_config_without_commands_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _file(tmp_path / "team", 0o664)
    caplog.set_level(logging.WARNING, logger="tokenrack.config")
    Registry.from_file(path).close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"using config {path} although it is writable by its group" in w for w in warnings)


def test_config_used_is_logged_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _file(tmp_path / "mine")
    caplog.set_level(logging.INFO, logger="tokenrack.config")
    Registry.from_file(path).close()
    assert f"using config {path}" in [r.getMessage() for r in caplog.records]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_file_owned_by_another_user_is_untrusted(tmp_path: Path) -> None:
    path = _file(tmp_path / "d", 0o644)
    os.chown(path, 1001, -1)
    assert untrusted_reason(path) == "it is owned by uid 1001, not by you (uid 0) or root"
