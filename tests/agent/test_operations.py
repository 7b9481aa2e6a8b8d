"""Running the agent: reload on SIGHUP, drain on SIGTERM, pid file, and refusals at start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.agent.conftest import TOKENRACK, Answer, StartAgent, agent_config, write_config
from tests.conftest import SECRET, profile, wait_until
from tokenrack.testing import Fault, TokenEmulator

UID = os.getuid()


def _config(emulator: TokenEmulator, scopes: list[str]) -> dict[str, object]:
    return agent_config(
        {"same": profile(emulator, scopes=["a"]), "changing": profile(emulator, scopes=scopes)},
        {"profiles": {"same": {"uids": [UID]}, "changing": {"uids": [UID]}}},
    )


def test_sighup_keeps_unchanged_profiles_tokens_and_rebuilds_changed_ones(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator, ["b"]))
    same = agent.unix("/v1/token/same").json()["access_token"]
    changing = agent.unix("/v1/token/changing").json()["access_token"]
    assert emulator.request_count == 2
    agent.write_config(_config(emulator, ["c"]))
    agent.signal(signal.SIGHUP)
    wait_until(lambda: "config reloaded" in agent.log())
    assert "profiles rebuilt: changing" in agent.log()
    assert agent.unix("/v1/token/same").json()["access_token"] == same
    assert emulator.request_count == 2  # no request for the unchanged profile
    rebuilt = agent.unix("/v1/token/changing").json()
    assert rebuilt["access_token"] != changing
    assert rebuilt["scope"] == "c"
    assert emulator.request_count == 3


def test_sighup_with_a_broken_file_keeps_the_config_in_force(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator, ["b"]))
    agent.unix("/v1/token/same")
    agent.config_path.write_text("version: 1\nprofiles: {}\nagent: {profiles: {gone: {}}}\n")
    agent.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in agent.log())
    assert "'gone' is not a profile of this file" in agent.log()
    assert agent.unix("/v1/token/same").status == 200
    assert emulator.request_count == 1


def test_sigterm_drains_a_request_in_flight_then_exits_0(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator, ["b"]))
    assert agent.pid_file.read_text().strip() == str(agent.process.pid)
    emulator.fail_next(Fault.delay(1.5))
    answers: list[Answer] = []
    asking = threading.Thread(target=lambda: answers.append(agent.unix("/v1/token/same")))
    asking.start()
    wait_until(lambda: emulator.request_count == 1)  # the fetch is under way
    agent.signal(signal.SIGTERM)
    asking.join(30)
    assert agent.process.wait(timeout=30) == 0
    assert answers and answers[0].status == 200
    assert answers[0].json()["access_token"] == emulator.issued_tokens[-1]
    assert not agent.pid_file.exists()
    assert agent.socket is not None and not Path(agent.socket).exists()


def _serve(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENRACK, "--config", str(config), "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _refused(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr


def test_an_invalid_agent_section_is_refused_with_its_path(
    emulator: TokenEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    write_config(
        config,
        agent_config(
            {"a": profile(emulator)},
            {
                "profiles": {"a": {"uids": ["me"]}, "b": {}},
                "tcp_token": {"env": "X"},
                "colour": "blue",
                "azure": {"header_secret": SECRET, "resources": {"r": "a"}},
            },
        ),
    )
    done = _serve(config, "--listen", "tcp://127.0.0.1:0")
    _refused(done, "agent.profiles.a.uids", "agent.colour: unknown")
    assert SECRET not in done.stderr
    write_config(config, agent_config({"a": profile(emulator)}, {"profiles": {"b": {}}}))
    _refused(_serve(config, "--listen", "tcp://127.0.0.1:0"), "agent.profiles.b", "not a profile")
    write_config(config, {"version": 1, "profiles": {"a": profile(emulator)}})
    _refused(_serve(config, "--listen", "tcp://127.0.0.1:0"), "no `agent` section")


def test_an_unreadable_agent_secret_stops_the_start(
    emulator: TokenEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    write_config(
        config,
        agent_config(
            {"a": profile(emulator)},
            {"profiles": {"a": {"tcp": True}}, "tcp_token": {"env": "AGENT_TEST_NO_SUCH_VAR"}},
        ),
    )
    done = _serve(config, "--listen", "tcp://127.0.0.1:0")
    assert done.returncode == 5
    assert "agent.tcp_token" in done.stderr and "AGENT_TEST_NO_SUCH_VAR" in done.stderr


@pytest.mark.parametrize(
    ("listen", "needle"),
    [
        ("tcp://0.0.0.0:0", "not a loopback address"),
        ("tcp://localhost:0", "give an IP address"),
        ("http://127.0.0.1:0", "expected unix:PATH"),
        ("unix:relative.sock", "must be absolute"),
    ],
)
def test_bad_listen_addresses_are_refused(
    emulator: TokenEmulator, tmp_path: Path, listen: str, needle: str
) -> None:
    config = tmp_path / "c.yaml"
    write_config(config, agent_config({"a": profile(emulator)}, {"profiles": {"a": {}}}))
    _refused(_serve(config, "--listen", listen), needle)


def test_a_socket_directory_others_can_write_is_refused(
    emulator: TokenEmulator, short_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    write_config(config, agent_config({"a": profile(emulator)}, {"profiles": {"a": {}}}))
    shared = short_dir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    _refused(_serve(config, "--listen", f"unix:{shared}/a.sock"), "writable by others")
    link = short_dir / "link"
    link.symlink_to(short_dir)
    _refused(_serve(config, "--listen", f"unix:{link}/a.sock"), "is not a directory (or is a link)")


def _first_line_with(process: subprocess.Popen[bytes], needle: str) -> str:
    assert process.stderr is not None
    seen = []
    for _ in range(20):
        line = process.stderr.readline().decode()
        seen.append(line)
        if needle in line or not line:
            break
    return "".join(seen)


def test_the_default_socket_is_private_and_a_second_agent_is_refused(
    emulator: TokenEmulator, short_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    write_config(config, agent_config({"a": profile(emulator)}, {"profiles": {"a": {}}}))
    env = {"XDG_RUNTIME_DIR": str(short_dir)}
    first = subprocess.Popen(
        [TOKENRACK, "--config", str(config), "serve"],
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    try:
        assert first.stderr is not None
        sock = short_dir / "tokenrack" / "agent.sock"
        assert f"listening on unix:{sock}" in _first_line_with(first, "listening on")
        assert oct((short_dir / "tokenrack").stat().st_mode & 0o777) == "0o700"
        assert oct(sock.stat().st_mode & 0o777) == "0o600"
        _refused(_serve(config, env=env), "another agent is listening")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)  # waits, and closes the pipe
        assert first.returncode == 0
    assert not sock.exists()
    # A stale socket (no agent behind it) is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()
    again = subprocess.Popen(
        [TOKENRACK, "--config", str(config), "serve"],
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert again.stderr is not None
    assert "listening on" in _first_line_with(again, "listening on")
    again.send_signal(signal.SIGTERM)
    again.communicate(timeout=30)
    assert again.returncode == 0


def test_without_aiohttp_serve_names_the_extra(emulator: TokenEmulator, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    write_config(config, agent_config({"a": profile(emulator)}, {"profiles": {"a": {}}}))
    blocker = tmp_path / "block"
    blocker.mkdir()
    # A meta path finder that hides the installed aiohttp, as if the extra were missing.
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'aiohttp' or name.startswith('aiohttp.'):\n"
        "            raise ModuleNotFoundError('No module named aiohttp', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
    )
    done = _serve(config, env={"PYTHONPATH": str(blocker)})
    assert done.returncode == 2
    assert "tokenrack[agent]" in done.stderr
    assert "Traceback" not in done.stderr
