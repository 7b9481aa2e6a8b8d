"""``providers``, ``cache list`` and ``explain`` say what will really happen (issue 11).

ux findings F16 (explain's cache backend), F20 (cache list fails as a whole), F21
(providers calls plugins ok whose extra is missing) and F25 (the deadline hint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
from tests.conftest import without_coverage
from tokenrack.cli.exit_codes import describe
from tokenrack.errors import TokenEndpointUnavailableError
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


def providers_without(modules: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``tokenrack providers`` in an interpreter where ``modules`` cannot be imported."""
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None\n"
        "from tokenrack.cli.main import main\n"
        f"sys.exit(main(['providers', *{list(args)!r}]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=without_coverage(dict(os.environ)),
        timeout=60,
        check=False,
    )


def test_providers_shows_a_plugin_whose_extra_is_missing_as_unusable() -> None:
    """F21: private_key_jwt needs tokenrack[jwt], redis needs tokenrack[redis]."""
    done = providers_without(["jwt", "redis", "cryptography"], "--json")
    assert done.returncode == 0, done.stderr
    rows = {(row["group"], row["name"]): row for row in json.loads(done.stdout)}
    jwt = rows[("tokenrack.auth_methods", "private_key_jwt")]
    assert jwt["status"].startswith("unusable: needs tokenrack[jwt]")
    assert jwt["needs"] == "tokenrack[jwt]"
    redis = rows[("tokenrack.caches", "redis")]
    assert redis["needs"] == "tokenrack[redis]" and redis["status"].startswith("unusable")
    assert redis["encryption"] == "needs tokenrack[encryption]"
    # HMAC assertions need only the standard library.
    assert rows[("tokenrack.auth_methods", "client_secret_jwt")]["status"] == "ok"
    # A vendor provider that signs its grant with PyJWT says so too.
    google = rows[("tokenrack.providers", "google")]
    assert google["needs"] == "tokenrack[jwt]" and google["status"].startswith("unusable")
    table = providers_without(["jwt", "redis", "cryptography"]).stdout
    line = next(row for row in table.splitlines() if row.split()[:1] == ["private_key_jwt"])
    assert "unusable: needs tokenrack[jwt]" in line
    assert "need an extra that is not installed" in table


def test_providers_with_everything_installed_says_ok() -> None:
    rows = json.loads(providers_without([], "--json").stdout)
    redis = next(r for r in rows if r["name"] == "redis")
    assert redis["status"] == "ok" and redis["needs"] is None and redis["encryption"] == "ok"


def test_cache_list_lists_what_it_can_and_fails_when_a_cache_is_unavailable(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """F20 and F4: a missing provider is one unusable row; an unreachable cache exits 5."""
    down = {
        "backend": "redis",
        "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port()}/0",
        "plaintext": True,
    }
    profiles = {
        "good": generic(emu),
        "typo": generic(emu, provider="okat"),
        "down": generic(emu, cache=down),
    }
    config = write(tmp_path, profiles)
    assert run("token", "good", config=config).returncode == 0
    done = run("cache", "list", "--json", config=config)
    assert done.returncode == 5, done.stderr
    rows = {row["profile"]: row for row in json.loads(done.stdout)}
    assert rows["good"]["state"] == "fresh" and rows["good"]["backend"] == "file"
    assert rows["typo"]["state"] == "unusable" and "okat" in rows["typo"]["detail"]
    assert rows["down"]["state"] == "unavailable"
    assert "the cache of down is unavailable" in done.stderr
    assert REDIS_PASSWORD not in done.stdout + done.stderr
    fine = run("cache", "list", config=write(tmp_path, {"good": profiles["good"]}))
    assert fine.returncode == 0 and "fresh" in fine.stdout


def test_explain_shows_the_cache_the_cli_really_uses(
    tmp_path: Path, emu: TokenEmulator, private_cache_dir: Path
) -> None:
    """F16: without a ``cache`` key the CLI uses its file cache, and explain says where."""
    config = write(tmp_path, {"billing": generic(emu)})
    out = run("explain", "billing", config=config).stdout
    assert f"cache backend: file at {private_cache_dir / 'tokenrack'}" in out
    assert "no cache key: the CLI's default" in out
    off = run("explain", "billing", config=config, env={"TOKENRACK_CLI_CACHE": "off"}).stdout
    assert "cache backend: memory, this process only" in off
    redis = {
        "backend": "redis",
        "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port()}/0",
        "plaintext": True,
    }
    shown = run(
        "explain", "billing", config=write(tmp_path, {"billing": generic(emu, cache=redis)})
    )
    assert shown.returncode == 0
    assert "cache backend: redis at redis://127.0.0.1:" in shown.stdout
    assert REDIS_PASSWORD not in shown.stdout + shown.stderr
    assert emu.request_count == 0


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [(0.001, "raise `deadline` in the profile"), (30.0, "check the network"), (None, "check")],
)
def test_a_tiny_deadline_gets_a_deadline_hint(deadline: float | None, expected: str) -> None:
    """F25: ``deadline: 0.001`` is not a network problem."""
    error = TokenEndpointUnavailableError("deadline exceeded", attempts=1, deadline=deadline)
    hint = describe(error).splitlines()[1]
    assert expected in hint
    assert ("network" in hint) == (deadline is None or deadline >= 1)


def test_a_tiny_deadline_from_the_command_line(tmp_path: Path, emu: TokenEmulator) -> None:
    # A microsecond: no loopback request is that fast, so the deadline always runs out.
    config = write(tmp_path, {"billing": generic(emu, deadline=0.000001)})
    done = run("token", "billing", config=config, env={"TOKENRACK_CLI_CACHE": "off"})
    assert done.returncode == 4
    assert "deadline of 1e-06s is shorter" in done.stderr and "network" not in done.stderr
