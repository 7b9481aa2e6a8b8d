"""Unmodified clients get tokens through the agent: azure-identity, google-auth, Node's fetch.

Each client runs in its own process, configured only by the environment its SDK reads
(``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, ``GCE_METADATA_HOST``), as on a real host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.agent.conftest import BEARER, HEADER_SECRET, Agent, StartAgent, agent_config
from tests.conftest import profile
from tokenrack.testing import TokenEmulator

GRAPH = "https://graph.microsoft.com"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
STORAGE = "https://www.googleapis.com/auth/devstorage.read_only"


def _config(emulator: TokenEmulator) -> dict[str, object]:
    return agent_config(
        {
            "graph": profile(emulator, scopes=["graph"]),
            "gcs": profile(emulator, scopes=["gcs"]),
            "storage": profile(emulator, scopes=["storage"]),
        },
        {
            "profiles": {"graph": {"tcp": True}, "gcs": {"tcp": True}, "storage": {"tcp": True}},
            "tcp_token": {"env": "TOKENRACK_AGENT_TOKEN"},
            "azure": {
                "header_secret": {"env": "IDENTITY_HEADER"},
                "resources": {GRAPH: "graph"},
                "client_id": "agent-client-id",
            },
            "google": {"default": "gcs", "scopes": {CLOUD: "gcs", STORAGE: "storage"}},
        },
    )


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "GCE_", "MSI_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "NO_PROXY": "*", **env},
    )


def _azure_env(agent: Agent, header: str = HEADER_SECRET) -> dict[str, str]:
    return {
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{agent.port}/msi/token",
        "IDENTITY_HEADER": header,
    }


AZURE = """
    import time
    from azure.identity import ManagedIdentityCredential
    token = ManagedIdentityCredential().get_token("https://graph.microsoft.com/.default")
    print(token.token)
    print(int(token.expires_on - time.time()))
"""


def test_azure_identity_managed_identity_credential(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    done = _python(AZURE, _azure_env(agent))
    assert done.returncode == 0, done.stderr
    token, left = done.stdout.split()
    assert token == emulator.issued_tokens[-1]
    assert dict(emulator.requests[-1].form)["scope"] == "graph"
    assert 3500 < int(left) <= 3600


def test_azure_identity_with_a_wrong_header_secret_gets_nothing(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    done = _python(AZURE, _azure_env(agent, header="not-the-secret"))
    assert done.returncode != 0
    assert emulator.request_count == 0
    assert emulator.issued_tokens == []


def test_azure_endpoint_answers_the_app_service_shape(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    path = f"/msi/token?api-version=2019-08-01&resource={GRAPH}"
    body = agent.tcp(path, {"X-IDENTITY-HEADER": HEADER_SECRET}, bearer=None).json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["expires_on"].isdigit()
    assert (body["resource"], body["client_id"]) == (GRAPH, "agent-client-id")
    for bad, status in (
        ("/msi/token?api-version=2017-09-01&resource=" + GRAPH, 400),
        (path + "&client_id=someone-else", 400),
        ("/msi/token?api-version=2019-08-01&resource=https://vault.azure.net", 404),
    ):
        assert agent.tcp(bad, {"X-IDENTITY-HEADER": HEADER_SECRET}, bearer=None).status == status
    # The native bearer is not the identity header, and the header is not the bearer.
    assert agent.tcp(path, bearer=BEARER).status == 401
    assert agent.tcp("/v1/token/graph", bearer=HEADER_SECRET).status == 401


GOOGLE = """
    import google.auth.transport.requests
    from google.auth import compute_engine
    credentials = compute_engine.Credentials({scopes})
    credentials.refresh(google.auth.transport.requests.Request())
    print(credentials.token)
    print(credentials.service_account_email)
"""


@pytest.mark.parametrize(
    ("scopes", "profile_scope"),
    [("", "gcs"), (f"scopes=[{STORAGE!r}]", "storage")],
    ids=["default", "scoped"],
)
def test_google_auth_compute_engine_credentials(
    emulator: TokenEmulator, start_agent: StartAgent, scopes: str, profile_scope: str
) -> None:
    agent = start_agent(_config(emulator))
    done = _python(
        GOOGLE.format(scopes=scopes),
        {"GCE_METADATA_HOST": f"127.0.0.1:{agent.port}", "GCE_METADATA_IP": "127.0.0.1:9"},
    )
    assert done.returncode == 0, done.stderr
    token, email = done.stdout.split()
    assert token == emulator.issued_tokens[-1]
    assert dict(emulator.requests[-1].form)["scope"] == profile_scope
    assert email == "tokenrack-agent@localhost"


def test_google_metadata_needs_its_flavor_header_and_known_scopes(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    token = "/computeMetadata/v1/instance/service-accounts/default/token"
    flavor = {"Metadata-Flavor": "Google"}
    assert agent.tcp(token, bearer=None).status == 403
    assert agent.tcp(token + f"?scopes={CLOUD},{STORAGE}", flavor, bearer=None).status == 404
    assert agent.tcp(token + "?scopes=https://elsewhere", flavor, bearer=None).status == 404
    ok = agent.tcp(token, flavor, bearer=None)
    assert ok.status == 200 and ok.headers["Metadata-Flavor"] == "Google"
    assert set(ok.json()) == {"access_token", "expires_in", "token_type"}


NODE = """
const [port, bearer] = process.argv.slice(1);
const answer = await fetch(`http://127.0.0.1:${port}/v1/token/graph`, {
  headers: { Authorization: `Bearer ${bearer}` },
});
const body = await answer.json();
console.log(answer.status, body.access_token);
"""


def test_nodes_fetch_over_tcp(emulator: TokenEmulator, start_agent: StartAgent) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    agent = start_agent(_config(emulator))
    done = subprocess.run(
        [node, "--input-type=module", "-e", NODE, str(agent.port), BEARER],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", *emulator.issued_tokens], done.stdout
