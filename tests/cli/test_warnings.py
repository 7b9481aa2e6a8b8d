"""Warnings reach the CLI user's stderr, once, without secrets; ``-q`` silences them.

Issue 11, ux F4: each of these degraded runs used to print a token, exit 0 and say nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.diag_support import (
    REDIS_PASSWORD,
    closed_port,
    emulator,
    generic,
    run,
    use_private_cache,
    write,
)
from tests.conftest import SECRET, TOKEN_MARK, without_coverage
from tokenrack.testing import TokenEmulator

PREFIX = "tokenrack: warning: "


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with emulator() as started:
        yield started


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return use_private_cache(tmp_path_factory, monkeypatch)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(PREFIX)]


def test_token_with_redis_down_prints_the_token_alone_and_one_warning(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """``$(tokenrack token billing)`` stays clean; the outage is on stderr, once."""
    cache = {
        "backend": "redis",
        "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port()}/0",
        "plaintext": True,
    }
    config = write(tmp_path, {"billing": generic(emu, cache=cache)})
    done = run("token", "billing", config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == emu.issued_tokens[0] + "\n"
    (warning,) = warnings(done.stderr)
    assert done.stderr == warning + "\n"
    assert "token cache redis" in warning and "is unavailable" in warning
    assert REDIS_PASSWORD not in done.stderr
    quiet = run("-q", "token", "billing", config=config)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == emu.issued_tokens[1] + "\n"


def _inline_secret(tmp_path: Path, emu: TokenEmulator) -> tuple[dict[str, Any], str]:
    return generic(emu, client_secret=SECRET), "holds secrets inline"


def _readable_secret_file(tmp_path: Path, emu: TokenEmulator) -> tuple[dict[str, Any], str]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    return generic(emu, client_secret={"file": str(secret)}), "is readable by"


def _password_file_missing(tmp_path: Path, emu: TokenEmulator) -> tuple[dict[str, Any], str]:
    cache = {
        "backend": "redis",
        "url": f"redis://127.0.0.1:{closed_port()}/0",
        "plaintext": True,
        "password": {"file": str(tmp_path / "no-redis-password")},
    }
    return generic(emu, cache=cache), "cache.password: cannot read secret file"


def _unsafe_cache_directory(tmp_path: Path, emu: TokenEmulator) -> tuple[dict[str, Any], str]:
    directory = tmp_path / "open-cache"
    directory.mkdir()
    directory.chmod(0o777)
    return generic(emu, cache={"backend": "file", "path": str(directory)}), (
        "writable by group or others"
    )


@pytest.mark.parametrize(
    "setup",
    [_inline_secret, _readable_secret_file, _password_file_missing, _unsafe_cache_directory],
    ids=["inline-secret-0644", "secret-file-0644", "redis-password-missing", "cache-dir-0777"],
)
def test_each_degradation_is_one_warning_without_secrets(
    setup: Any, tmp_path: Path, emu: TokenEmulator
) -> None:
    profile, expected = setup(tmp_path, emu)
    config = write(tmp_path, {"billing": profile})
    if profile["client_secret"] == SECRET:
        config.chmod(0o644)
    done = run("token", "billing", config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == emu.issued_tokens[0] + "\n"
    found = warnings(done.stderr)
    assert len(found) == 1, done.stderr
    assert expected in found[0]
    assert SECRET not in done.stderr and "CANARYSECRET" not in done.stderr
    assert run("-q", "token", "billing", "--force-refresh", config=config).stderr == ""


def _blocked_cli(
    modules: list[str], *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The CLI's main in a fresh interpreter where ``modules`` cannot be imported."""
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None\n"
        "from tokenrack.cli.main import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=without_coverage(env),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("blocked", "cache", "expected"),
    [
        (
            ["redis"],
            {"backend": "redis", "url": "redis://127.0.0.1:1/0", "plaintext": True},
            "pip install 'tokenrack[redis]'",
        ),
        (
            ["cryptography"],
            {"backend": "file", "encryption_key": {"env": "CANARY_SECRET"}},
            "cache encryption needs the cryptography package",
        ),
    ],
    ids=["redis-missing", "cryptography-missing"],
)
def test_a_missing_cache_package_is_one_warning(
    blocked: list[str], cache: dict[str, Any], expected: str, tmp_path: Path, emu: TokenEmulator
) -> None:
    config = write(tmp_path, {"billing": generic(emu, cache=cache)})
    env = {**os.environ, "CANARY_SECRET": SECRET}
    done = _blocked_cli(blocked, "--config", str(config), "token", "billing", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(TOKEN_MARK)
    found = warnings(done.stderr)
    assert len(found) == 1 and expected in found[0], done.stderr
    assert SECRET not in done.stderr


def test_a_failed_fetch_is_printed_once_as_the_error(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write(
        tmp_path,
        {"billing": generic(emu, client_secret="wrong-secret", auth_method="client_secret_basic")},
    )
    done = run("token", "billing", config=config)
    assert done.returncode == 3
    assert warnings(done.stderr) == []
    assert done.stderr.count("invalid_client") == 1, done.stderr


def test_quiet_and_verbose_cannot_be_combined(tmp_path: Path, emu: TokenEmulator) -> None:
    done = run("-q", "-v", "token", "billing", config=write(tmp_path, {"billing": generic(emu)}))
    assert done.returncode == 2 and "not allowed with" in done.stderr
