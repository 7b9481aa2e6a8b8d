"""``tokenrack check`` validates the ``agent:`` section too, without aiohttp (issue 14).

The real console script runs in a subprocess, like ``serve`` would be run on the same file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.diag_support import emulator, generic, problems, run, use_private_cache
from tests.conftest import SECRET
from tokenrack.testing import TokenEmulator


@pytest.fixture
def emu() -> Any:
    with emulator() as started:
        yield started


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return use_private_cache(tmp_path_factory, monkeypatch)


def _config(tmp_path: Path, emu: TokenEmulator, agent: Any) -> Path:
    """billing (usable) and an ``agent`` section written in block style (lines are known)."""
    document = {"version": 1, "profiles": {"billing": generic(emu)}, "agent": agent}
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
    path.chmod(0o600)
    return path


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_check_reports_agent_problems_with_line_and_column(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    agent = {"profiles": {"billing": {}, "payroll": {}}, "tcp_tokn": SECRET}
    config = _config(tmp_path, emu, agent)
    done = run("check", config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    found = problems(done.stdout)
    assert "billing" not in found  # the profile itself is fine
    (report,) = found["agent"]
    line = _line_of(config, "tcp_tokn")
    assert "agent.tcp_tokn: unknown key" in report and f"[line {line}, column 3]" in report
    assert SECRET not in done.stdout
    assert "the agent section failed" in done.stderr
    # The same file's second kind of problem: a name that is no profile of the file.
    config = _config(tmp_path, emu, {"profiles": {"billing": {}, "payroll": {}}})
    done = run("check", config=config)
    assert done.returncode == 2
    line = _line_of(config, "payroll")
    assert f"agent.profiles.payroll: 'payroll' is not a profile of this file [line {line}," in (
        done.stdout
    )


def test_a_good_agent_section_is_reported_ok_and_checking_one_profile_skips_it(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    config = _config(tmp_path, emu, {"profiles": {"billing": {"uids": [0]}}})
    done = run("check", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agent: agent section ok" in done.stdout.splitlines()
    bad = _config(tmp_path, emu, {"profiles": {"nobody": {}}})
    one = run("check", "billing", config=bad)
    assert one.returncode == 0 and "agent:" not in one.stdout


def test_check_validates_the_agent_section_without_aiohttp(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """aiohttp is an extra: a config with an agent section is checked without it."""
    config = _config(tmp_path, emu, {"profiles": {"nobody": {}}})
    program = (
        "import sys\n"
        "sys.modules['aiohttp'] = None  # importing it now fails\n"
        "from tokenrack.cli.main import main\n"
        "code = main(['--config', sys.argv[1], 'check'])\n"
        "assert not any(m.startswith('aiohttp') and sys.modules[m] for m in sys.modules)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CANARY_SECRET": SECRET},
    )
    assert done.returncode == 2, done.stderr
    assert "agent.profiles.nobody: 'nobody' is not a profile of this file" in done.stdout
    assert "Traceback" not in done.stderr


def test_serve_points_to_check_for_its_section_and_check_finds_the_same(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """The hint after a serve config error is true: check reports that very problem."""
    config = _config(tmp_path, emu, {"profiles": {"billing": {}}, "google": {"default": "x"}})
    served = run("serve", "--listen", f"unix:{tmp_path / 'agent.sock'}", config=config)
    assert served.returncode == 2
    line = _line_of(config, "default: x")
    assert f"agent.google.default: 'x' is not a profile of this file [line {line}," in (
        served.stderr
    )
    assert served.stderr.splitlines()[-1] == (
        "tokenrack: `tokenrack check` validates the whole config, its agent section included"
    )
    checked = run("check", config=config)
    assert checked.returncode == 2
    assert "agent.google.default: 'x' is not a profile of this file" in checked.stdout


def test_check_reads_the_agents_own_secrets(tmp_path: Path, emu: TokenEmulator) -> None:
    """tcp_token and azure.header_secret are read as serve reads them; a relative {file:}
    is the config file's."""
    (tmp_path / "bearer.txt").write_text(SECRET)
    (tmp_path / "bearer.txt").chmod(0o600)
    agent = {
        "profiles": {"billing": {"tcp": True}},
        "tcp_token": {"file": "bearer.txt"},
        "azure": {"header_secret": {"env": "TR_CHECK_NO_HEADER"}, "resources": {"r": "billing"}},
    }
    config = _config(tmp_path, emu, agent)
    done = run("check", config=config)
    assert done.returncode == 5, done.stdout + done.stderr
    (report,) = problems(done.stdout)["agent"]
    assert "agent.azure.header_secret" in report and "TR_CHECK_NO_HEADER" in report
    assert "tcp_token" not in report  # read next to the config, whatever the cwd
    del agent["azure"]
    done = run("check", config=_config(tmp_path, emu, agent))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agent: agent section ok, agent secrets ok" in done.stdout.splitlines()
    assert SECRET not in done.stdout
