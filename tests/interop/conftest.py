"""Independent OAuth 2.0 servers for interop tests: Authlib (Python) and oidc-provider (node).

``oidc_provider`` is a factory: ``oidc_provider(clients, configuration=None)`` starts node's
oidc-provider (tests/interop/node, installed by ``make install`` with ``npm ci``) as a real
process on 127.0.0.1 and a free port, with the client-credentials grant on and the given
client registrations (oidc-provider client metadata: ``client_id``, ``client_secret``,
``token_endpoint_auth_method``, ``grant_types``, …) and extra provider configuration
(e.g. ``{"features": {"dPoP": {"enabled": True}}}``, merged over the defaults). Reused by later
interop tests (DPoP, token exchange). Without node (or its modules) the tests are skipped,
naming why; with ``CI=true`` that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_PROJECT = Path(__file__).parent / "node"
START_TIMEOUT = 30.0


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def secret_client(client_id: str, secret: str, method: str) -> dict[str, Any]:
    """An oidc-provider registration for a client-credentials client with a secret."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "token_endpoint_auth_method": method,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
    }


@dataclass
class OidcProvider:
    """A running oidc-provider: its issuer, and the token requests it saw."""

    issuer: str
    process: subprocess.Popen[str]

    @property
    def token_url(self) -> str:
        """Its token endpoint (also what its discovery document says)."""
        return self.issuer + "/token"

    def requests(self) -> list[dict[str, Any]]:
        """Token requests so far: ``{"path", "basic": bool, "status"}`` each."""
        with urllib.request.urlopen(self.issuer + "/__interop/requests", timeout=5) as answer:
            seen: list[dict[str, Any]] = json.load(answer)
        return seen

    def basic_attempts(self) -> int:
        """How many token requests came with a Basic header."""
        return sum(1 for r in self.requests() if r["basic"])


OidcProviderFactory = Callable[..., OidcProvider]


@pytest.fixture
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProviderFactory]:
    """Start node oidc-provider servers; every one is stopped after the test."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed: the oidc-provider interop tests need it")
    if not (NODE_PROJECT / "node_modules" / "oidc-provider").is_dir():
        _unavailable("tests/interop/node has no node_modules: run make install (npm ci)")
    started: list[subprocess.Popen[str]] = []
    logs = tmp_path_factory.mktemp("oidc-provider")

    def start(
        clients: Sequence[Mapping[str, Any]], configuration: Mapping[str, Any] | None = None
    ) -> OidcProvider:
        # Its stderr goes to a file: a pipe nobody reads could fill up and stall the server.
        log = (logs / f"{len(started)}.log").open("w")
        process = subprocess.Popen(
            [
                str(node),
                str(NODE_PROJECT / "server.mjs"),
                json.dumps(clients),
                json.dumps(configuration or {}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=NODE_PROJECT,
        )
        log.close()
        started.append(process)
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(process.stdout.readline()))
        reader.start()
        reader.join(START_TIMEOUT)
        if not first or not first[0].strip():
            process.kill()
            process.communicate(timeout=5)
            errors = (logs / f"{len(started) - 1}.log").read_text()
            pytest.fail(f"oidc-provider did not start: {errors[-2000:]}")
        ready = json.loads(first[0])
        return OidcProvider(issuer=ready["issuer"], process=process)

    yield start
    for process in started:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def authlib_server() -> Iterator[Callable[..., Any]]:
    """Start Authlib servers for ``[(client_id, secret, method), …]``; stopped after the test."""
    pytest.importorskip("authlib", reason="the dev extra installs authlib")
    from tests.interop.authlib_server import AuthlibClient, RunningAuthlib

    running: list[RunningAuthlib] = []

    def start(clients: Sequence[tuple[str, str, str]]) -> Any:
        server = RunningAuthlib(AuthlibClient(*c) for c in clients)
        running.append(server)
        return server.server

    monkeypatch = pytest.MonkeyPatch()
    # Authlib refuses plain http unless told it is a test; the server is on loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    yield start
    for server in running:
        server.stop()
    monkeypatch.undo()
