"""Starting ``tokenrack serve`` as a real process, and talking to it over its socket or TCP."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import wait_until

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
BEARER = "agent-bearer-for-tests"
HEADER_SECRET = "identity-header-for-tests"


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (``Host: localhost``, as curl sends)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


@dataclass
class Answer:
    """An HTTP answer: status, headers and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _ask(conn: http.client.HTTPConnection, path: str, headers: Mapping[str, str]) -> Answer:
    try:
        conn.request("GET", path, headers=dict(headers))
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


@dataclass
class Agent:
    """A running ``tokenrack serve``."""

    process: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path
    socket: str | None
    port: int | None
    pid_file: Path
    lines: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def unix(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        assert self.socket is not None
        return _ask(UnixHTTPConnection(self.socket), path, headers or {})

    def tcp(
        self, path: str, headers: Mapping[str, str] | None = None, *, bearer: str | None = BEARER
    ) -> Answer:
        assert self.port is not None
        sent = dict(headers or {})
        if bearer is not None:
            sent.setdefault("Authorization", f"Bearer {bearer}")
        return _ask(http.client.HTTPConnection("127.0.0.1", self.port, timeout=30), path, sent)

    def write_config(self, data: Mapping[str, Any]) -> None:
        write_config(self.config_path, data)

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def write_config(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    path.chmod(0o600)


def agent_config(
    profiles: Mapping[str, Any], agent: Mapping[str, Any], **rest: Any
) -> dict[str, Any]:
    """A config document: profiles and an ``agent`` section."""
    return {"version": 1, "profiles": dict(profiles), "agent": dict(agent), **rest}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A private directory with a short path (a unix socket path has ~100 bytes)."""
    made = Path(tempfile.mkdtemp(prefix="tra-", dir="/tmp"))
    made.chmod(0o700)
    yield made
    shutil.rmtree(made, ignore_errors=True)


StartAgent = Callable[..., Agent]


@pytest.fixture
def start_agent(short_dir: Path, tmp_path: Path) -> Iterator[StartAgent]:
    """Start agents over a config; each is stopped after the test."""
    started: list[Agent] = []

    def start(
        config: Mapping[str, Any],
        *,
        tcp: bool = True,
        unix: bool = True,
        args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        verbose: int = 0,
        quiet: bool = False,
        expect_ready: bool = True,
        socket_dir_mode: int = 0o700,
    ) -> Agent:
        index = len(started)
        short_dir.chmod(socket_dir_mode)
        config_path = tmp_path / f"agent{index}.yaml"
        write_config(config_path, config)
        log_path = tmp_path / f"agent{index}.log"
        sock = str(short_dir / f"a{index}.sock") if unix else None
        listen = []
        if unix:
            listen += ["--listen", f"unix:{sock}"]
        if tcp:
            listen += ["--listen", "tcp://127.0.0.1:0"]
        pid_file = tmp_path / f"agent{index}.pid"
        environ = {
            **os.environ,
            "TOKENRACK_AGENT_TOKEN": BEARER,
            "IDENTITY_HEADER": HEADER_SECRET,
            **(env or {}),
        }
        loudness = ["-v"] * verbose + (["-q"] if quiet else [])
        command = [TOKENRACK, *loudness, "--config", str(config_path), "serve"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, *listen, "--pid-file", str(pid_file), *(args or [])],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=environ,
            )
        agent = Agent(process, log_path, config_path, sock, None, pid_file)
        started.append(agent)
        if not expect_ready:
            return agent
        wanted = int(unix) + int(tcp)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the agent exited {process.returncode}:\n{agent.log()}")
            return len(re.findall(r"listening on ", agent.log())) >= wanted

        wait_until(ready, timeout=30)
        found = re.search(r"listening on tcp://127\.0\.0\.1:(\d+)", agent.log())
        agent.port = int(found.group(1)) if found else None
        return agent

    yield start
    for agent in started:
        agent.stop()
