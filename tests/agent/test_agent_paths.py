"""``tokenrack serve`` reads a relative ``{file: …}`` next to its config, like the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from tests.agent.conftest import StartAgent, agent_config
from tests.conftest import SECRET, profile
from tokenrack.testing import TokenEmulator


def test_a_relative_secret_file_is_the_config_files(
    emulator: TokenEmulator, start_agent: StartAgent, tmp_path: Path
) -> None:
    secret = tmp_path / "client-secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    assert Path.cwd() != tmp_path  # the agent runs from the test's directory, not the file's
    config = agent_config(
        {"a": profile(emulator, client_secret={"file": "client-secret.txt"})},
        {"profiles": {"a": {"uids": [os.getuid()]}}},
    )
    agent = start_agent(config, tcp=False)
    answer = agent.unix("/v1/token/a")
    assert answer.status == 200, answer.body
    assert answer.json()["access_token"] in emulator.issued_tokens
