"""`tokenrack emulator`: every personality offered, its own token URL printed and served.

Run as the real console script; each emulator is started by the test, read until it says
where it listens, used, and stopped with SIGINT (as Ctrl-C would).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from tokenrack_providers.testing.personalities import PERSONALITIES

from tests.cli.test_cli import TOKENRACK, run
from tokenrack.cli.emulator_cmd import PERSONALITIES as OFFERED
from tokenrack.core.registry import Registry


def test_every_personality_is_offered() -> None:
    assert set(OFFERED) == {"rfc6749", *PERSONALITIES}
    assert OFFERED[0] == "rfc6749" and len(OFFERED) == len(PERSONALITIES) + 1


def test_the_core_spells_no_vendor_name() -> None:
    cli = Path(__file__).resolve().parents[2] / "src" / "tokenrack" / "cli"
    for module in ("emulator_cmd.py", "completion.py", "main.py"):
        text = (cli / module).read_text().lower()
        named = [vendor for vendor in PERSONALITIES if f'"{vendor}"' in text]
        assert named == [], module


def test_building_the_parser_reads_no_entry_points() -> None:
    code = (
        "import importlib.metadata as m\n"
        "def refuse(**selection): raise AssertionError('entry points read')\n"
        "m.entry_points = refuse\n"
        "from tokenrack.cli.main import build_parser\n"
        "build_parser()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_bash_completion_offers_every_personality(tmp_path: Path) -> None:
    probe = tmp_path / "probe.sh"
    probe.write_text(
        run("completion", "bash").stdout
        + 'COMP_WORDS=(tokenrack emulator --personality ""); COMP_CWORD=3; _tokenrack; '
        + 'echo "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", str(probe)], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == list(OFFERED)


def test_help_and_the_error_list_every_personality() -> None:
    shown = " ".join(run("emulator", "--help").stdout.split())
    refused = run("emulator", "--personality", "entra-ish")
    assert refused.returncode == 2
    for name in OFFERED:
        assert name in shown
        assert f"'{name}'" in refused.stderr
    assert "invalid choice: 'entra-ish'" in refused.stderr
    assert "the dialect to speak: " + ", ".join(OFFERED) + " (default: rfc6749)" in shown


def parse(lines: list[str]) -> dict[str, str]:
    """What the emulator printed, by label."""
    printed: dict[str, str] = {}
    for line in lines:
        text = line.strip()
        if text.startswith("token emulator on "):
            printed["url"] = text.split()[3]
        elif text.startswith("accepts "):
            printed["accepts"] = text
        elif ": " in text:
            label, value = text.split(": ", 1)
            printed[label] = value
    return printed


def read_until_ready(process: subprocess.Popen[bytes]) -> str:
    """What a starting `tokenrack emulator` printed, up to "Ctrl-C stops it"."""
    assert process.stdout is not None
    received = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing claim
        while b"Ctrl-C stops it" not in received:
            assert selector.select(timeout=max(0.0, deadline - time.monotonic())), received
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, (
                f"the emulator exited: {process.stderr.read() if process.stderr else ''!r}"
            )
            received += chunk
    return received.decode()


@contextmanager
def emulator(*args: str) -> Iterator[dict[str, str]]:
    """Start `tokenrack emulator ARGS`; yield what it printed, by label; stop it."""
    process = subprocess.Popen(
        [TOKENRACK, "emulator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    received = ""
    try:
        received = read_until_ready(process)
        yield parse(received.splitlines())
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0 and b"stopped" in received.encode() + out


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("rfc6749", "/oauth/token"),
        ("azure", "/contoso.onmicrosoft.com/oauth2/v2.0/token"),
        ("okta", "/oauth2/default/v1/token"),
        ("salesforce", "/services/oauth2/token"),
    ],
)
def test_the_printed_url_is_the_personalitys_token_endpoint(name: str, path: str) -> None:
    with emulator("--personality", name, "--client-id", "cli", "--client-secret", "s3") as out:
        endpoint = out["token endpoint"]
        assert endpoint == out["url"] + path
        scope = "https://graph.microsoft.com/.default" if name == "azure" else "invoices.read"
        answer = requests.post(
            endpoint,
            data={"grant_type": "client_credentials", "scope": scope},
            auth=("cli", "s3"),
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["access_token"]


def test_google_personality_writes_a_key_file_that_gets_a_token() -> None:
    with emulator("--personality", "google") as out:
        endpoint = out["token endpoint"]
        assert endpoint == out["url"] + "/token"
        key_file = Path(out["its key file"].split(" (", 1)[0])
        account = out["accepts"].split()[3]
        registry = Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "gcp": {
                        "provider": "google",
                        "service_account": account,
                        "service_account_key": {"file": str(key_file)},
                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                        "token_url": endpoint,
                    }
                },
            }
        )
        with registry:
            assert registry.get_token("gcp").token_type == "Bearer"
        assert key_file.exists()
    assert not key_file.exists()  # deleted when the emulator stopped
