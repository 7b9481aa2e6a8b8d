"""What the issue-11 diagnostics tests share: configs, a closed port, the CLI in a subprocess.

Each test module declares its own ``emu`` and ``private_cache_dir`` fixtures from
:func:`emulator` and :func:`use_private_cache` (a fixture imported from another module
would shadow the parameters that name it).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_cli import run
from tests.conftest import CLIENT_ID, TOKEN_MARK, canary_client
from tokenrack.testing import TokenEmulator

__all__ = [
    "REDIS_PASSWORD",
    "closed_port",
    "emulator",
    "generic",
    "problems",
    "run",
    "use_private_cache",
    "write",
]

REDIS_PASSWORD = "CANARYSECRET-redis-password"


def emulator() -> TokenEmulator:
    """An emulator that issues canary tokens to the canary client (use it as a context)."""
    return TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-", token_format="opaque")


def use_private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point the CLI's file cache at a directory of the test's own."""
    directory = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(directory))
    return directory


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generic(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    """A generic profile for the emulator; its secret is read from ``CANARY_SECRET``."""
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": {"env": "CANARY_SECRET"},
        **options,
    }


def write(tmp_path: Path, profiles: dict[str, Any]) -> Path:
    """A config file (mode 0600) holding ``profiles``."""
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    path.chmod(0o600)
    return path


def problems(stdout: str) -> dict[str, list[str]]:
    """``check``'s ``NAME: FAILED: problem`` lines, by profile."""
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        name, _, rest = line.partition(": FAILED: ")
        if rest:
            found.setdefault(name, []).append(rest)
    return found
