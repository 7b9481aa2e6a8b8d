"""`tokenrack emulator` as a daily tool (issue 11, ux F22): the real console script, run
as a process, stopped with SIGTERM as docker, systemd and CI stop things."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.cli.test_emulator_cli import parse, read_until_ready

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENRACK, "emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


@contextmanager
def emulator(*args: str, cwd: Path | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A running `tokenrack emulator`; on exit it is sent SIGTERM and must exit 0."""
    process = subprocess.Popen(
        [TOKENRACK, "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )
    try:
        yield process, read_until_ready(process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def terminate(process: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    return process.returncode, out.decode(), err.decode()


def fetch(token_url: str, secret: str = "test-secret", **form: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_id": "test-client", "client_secret": secret}
    return requests.post(token_url, data={**data, **form}, timeout=30)


def test_a_busy_port_is_a_one_line_usage_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run("--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"tokenrack: port {port} on 127.0.0.1 is already in use; stop what holds it, "
        "or pick another --port (0 picks a free one)"
    ]


def test_a_port_out_of_range_is_refused_by_the_parser() -> None:
    done = run("--port", "99999")
    assert done.returncode == 2
    assert "argument --port: 99999 is not a port (0-65535" in done.stderr
    assert "Traceback" not in done.stderr and "bind()" not in done.stderr


def test_every_option_has_help() -> None:
    from tokenrack.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    emulator_parser = sub.choices["emulator"]  # type: ignore[index]
    missing = [a.dest for a in emulator_parser._actions if not a.help]
    assert missing == []
    assert emulator_parser.description


def test_sigterm_removes_the_key_file_and_exits_0() -> None:
    with emulator("--personality", "google") as (process, printed):
        key_file = Path(parse(printed.splitlines())["its key file"].split(" ")[0])
        assert key_file.is_file()
        code, out, err = terminate(process)
    assert code == 0, err
    assert "stopped" in out
    assert not key_file.exists() and not key_file.parent.exists()


def test_key_dir_keeps_the_key_path_stable_and_is_emptied_on_stop(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    (keys).mkdir(mode=0o700)
    (keys / "mine.txt").write_text("not the emulator's")
    paths = []
    for _ in range(2):
        with emulator("--personality", "google", "--key-dir", str(keys)) as (process, printed):
            key_file = Path(parse(printed.splitlines())["its key file"].split(" ")[0])
            assert json.loads(key_file.read_text())["type"] == "service_account"
            paths.append(key_file)
            code, _, err = terminate(process)
        assert code == 0, err
        assert not key_file.exists()
    assert paths[0] == paths[1] == keys / "service-account.json"
    assert (keys / "mine.txt").read_text() == "not the emulator's"


def test_a_key_dir_others_can_write_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "shared"
    keys.mkdir()
    keys.chmod(0o777)
    done = run("--personality", "google", "--key-dir", str(keys))
    assert done.returncode == 2
    assert "writable by other users" in done.stderr
    assert list(keys.iterdir()) == []


def test_log_requests_prints_one_line_per_request_without_secrets() -> None:
    with emulator("--log-requests") as (process, printed):
        token_url = parse(printed.splitlines())["token endpoint"]
        ok = fetch(token_url)
        refused = fetch(token_url, secret="wrong-secret-value")
        code, _, err = terminate(process)
    assert ok.status_code == 200 and refused.status_code == 401
    path = token_url.split("127.0.0.1:", 1)[1].split("/", 1)[1]
    assert err.splitlines() == [
        f"POST /{path} client=test-client -> 200 ok",
        f"POST /{path} client=- -> 401 invalid_client",
    ]
    assert ok.json()["access_token"] not in err
    assert "test-secret" not in err and "wrong-secret-value" not in err
    assert code == 0


def test_without_log_requests_nothing_is_logged() -> None:
    with emulator() as (process, printed):
        fetch(parse(printed.splitlines())["token endpoint"])
        code, _, err = terminate(process)
    assert code == 0 and err == ""


def test_token_format_jwt_issues_jwt_shaped_tokens() -> None:
    with emulator("--token-format", "jwt", "--expires-in", "120") as (_, printed):
        answer = fetch(parse(printed.splitlines())["token endpoint"]).json()
    _header, claims, _signature = answer["access_token"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert decoded["sub"] == "test-client"
    assert decoded["exp"] - decoded["iat"] == 120
    assert "tokens: jwt" in printed


def test_scope_and_audience_restrict_the_client_and_are_printed() -> None:
    with emulator("--scope", "read", "--audience", "https://api.example") as (_, printed):
        token_url = parse(printed.splitlines())["token endpoint"]
        allowed = fetch(token_url, scope="read", audience="https://api.example")
        wrong_scope = fetch(token_url, scope="write")
        wrong_audience = fetch(token_url, audience="https://other.example")
    assert "scopes: read; audiences: https://api.example" in printed
    assert allowed.status_code == 200
    assert wrong_scope.json()["error"] == "invalid_scope"
    assert wrong_audience.status_code >= 400 and "error" in wrong_audience.json()


def test_defaults_print_what_is_accepted() -> None:
    with emulator() as (_, printed):
        pass
    assert "scopes: any; audiences: any" in printed
    assert "accepts client_id=test-client client_secret=test-secret" in printed


CUSTOM = """
from tokenrack.testing import Personality


class CamelPersonality(Personality):
    name = "camel"

    def serves(self, emulator, path):
        return path == "/v1/token"

    def token_path(self, emulator):
        return "/v1/token"

    def success(self, emulator, exchange, body):
        return {"accessToken": body["access_token"], "expiresIn": body["expires_in"]}


class NeedsArguments(Personality):
    def __init__(self, tenant):
        self.tenant = tenant


instance = CamelPersonality()
not_a_personality = object()
"""


def test_a_personality_is_loaded_by_import_path(tmp_path: Path) -> None:
    (tmp_path / "my_personality.py").write_text(CUSTOM)
    for spec in ("my_personality:CamelPersonality", "my_personality:instance"):
        with emulator("--personality", spec, cwd=tmp_path) as (_, printed):
            token_url = parse(printed.splitlines())["token endpoint"]
            answer = fetch(token_url).json()
        assert token_url.endswith("/v1/token")
        assert set(answer) == {"accessToken", "expiresIn"}
        assert f"({spec})" in printed


def test_a_bad_import_path_is_a_usage_error_saying_why(tmp_path: Path) -> None:
    (tmp_path / "my_personality.py").write_text(CUSTOM)
    cases = {
        "no_such_module:X": "cannot import 'no_such_module'",
        "my_personality:Missing": "'my_personality' has no 'Missing'",
        "my_personality:not_a_personality": "is not a tokenrack.testing.Personality",
        "my_personality:NeedsArguments": "NeedsArguments() needs arguments",
    }
    for spec, message in cases.items():
        done = run("--personality", spec, cwd=tmp_path)
        assert done.returncode == 2, spec
        assert message in done.stderr, (spec, done.stderr)
        assert "Traceback" not in done.stderr
