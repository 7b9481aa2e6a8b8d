"""`tokenrack.testing` and `tokenrack emulator` work where pytest is not installed.

Each check runs in a subprocess with ``sys.modules['pytest'] = None``, which makes any
``import pytest`` fail as it does in a plain ``pip install tokenrack``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.cli.test_emulator_cli import read_until_ready

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
    assert done.returncode != 0 and "pytest" in done.stderr


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
