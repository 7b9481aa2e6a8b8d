"""`tokenrack.testing` and `tokenrack emulator` work where pytest is not installed.

Most checks run in a subprocess with ``sys.modules['pytest'] = None``, which makes any
``import pytest`` fail as it does in a plain ``pip install tokenrack``; one builds that
plain install for real, in a fresh virtual environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.cli.test_emulator_cli import parse, read_until_ready

ROOT = Path(__file__).resolve().parents[2]

BLOCK_PYTEST = "import sys; sys.modules['pytest'] = None\n"


def test_the_emulator_imports_and_runs_without_pytest() -> None:
    code = BLOCK_PYTEST + (
        "import tokenrack.testing.emulator\n"
        "from tokenrack.testing import TokenEmulator, EmulatorClient, Fault, Personality\n"
        "import urllib.request\n"
        "with TokenEmulator() as emulator:\n"
        "    request = urllib.request.Request(emulator.token_url, data=b'grant_type=client_credentials&client_id=test-client&client_secret=test-secret')\n"
        "    print(urllib.request.urlopen(request, timeout=5).status)\n"
        "print('pytest' in sys.modules and sys.modules['pytest'] is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "False"]


def test_the_contract_kits_still_need_pytest() -> None:
    code = BLOCK_PYTEST + "from tokenrack.testing import ProviderContractTests\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert (
        "ModuleNotFoundError: tokenrack.testing.ProviderContractTests is a pytest contract kit "
        "and needs pytest (pip install pytest); the emulator (TokenEmulator, tokenrack "
        "emulator) does not"
    ) in done.stderr


def test_tokenrack_emulator_runs_without_pytest() -> None:
    code = BLOCK_PYTEST + (
        "sys.argv = ['tokenrack', 'emulator', '--port', '0']\n"
        "from tokenrack.cli.entry import entry_point\n"
        "entry_point()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        printed = read_until_ready(process)
        assert "token emulator on http://127.0.0.1:" in printed
        assert "accepts client_id=test-client" in printed
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert b"stopped" in out and b"pytest" not in err


def _run(*argv: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_a_plain_install_runs_the_emulator(tmp_path: Path) -> None:
    """`pip install` of this tree without extras: no pytest, and the emulator works.

    The wheel is built here (offline, no build isolation) from a copy of the tree; the
    runtime dependencies come from the configured package index (about 7 s here).
    """
    tree = tmp_path / "tokenrack-src"
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tree)
    shutil.copy(ROOT / "README.md", tree)
    wheels = tmp_path / "wheels"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        tree,
    )
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python, tokenrack = env / "bin" / "python", env / "bin" / "tokenrack"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *wheels.glob("*.whl"))
    assert (
        _run(python, "-c", "import importlib.util as u; print(u.find_spec('pytest'))").strip()
        == "None"
    )

    imported = _run(
        python,
        "-c",
        "from tokenrack.testing import TokenEmulator; import tokenrack; print(tokenrack.__file__)",
    )
    assert imported.startswith(str(env))  # the wheel, not this checkout

    process = subprocess.Popen(
        [tokenrack, "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        token_url = parse(read_until_ready(process).splitlines())["token endpoint"]
        fetched = _run(
            python,
            "-c",
            "import requests, sys\n"
            "answer = requests.post(sys.argv[1], auth=('test-client', 'test-secret'),"
            " data={'grant_type': 'client_credentials'}, timeout=30)\n"
            "print(answer.status_code, answer.json()['token_type'])",
            token_url,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert fetched.split() == ["200", "Bearer"]
    assert process.returncode == 0, err
