"""Agents sharing a file or Redis cache make one token request between them, as processes do."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import StartAgent, agent_config
from tests.conftest import profile
from tokenrack.testing import Fault, TokenEmulator

UID = os.getuid()


def _ask_all(agents: list[Any], path: str) -> list[str]:
    with ThreadPoolExecutor(len(agents) * 4) as pool:
        answers = list(pool.map(lambda a: a.unix(path), agents * 4))
    assert {answer.status for answer in answers} == {200}
    return [answer.json()["access_token"] for answer in answers]


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_three_agents_sharing_a_cache_make_one_request(
    emulator: TokenEmulator,
    start_agent: StartAgent,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    cache: dict[str, Any] = {"backend": "file", "path": str(tmp_path / "cache")}
    if backend == "redis":
        cache = {
            "backend": "redis",
            "plaintext": True,
            "url": request.getfixturevalue("redis_url"),
            "key_prefix": request.getfixturevalue("redis_prefix"),
        }
    config = agent_config(
        {"billing": profile(emulator, cache=cache)}, {"profiles": {"billing": {"uids": [UID]}}}
    )
    agents = [start_agent(config, tcp=False) for _ in range(3)]
    emulator.fail_next(Fault.delay(0.5))  # the first fetch is slow: the others ask meanwhile
    tokens = _ask_all(agents, "/v1/token/billing")
    assert emulator.request_count == 1
    assert set(tokens) == {emulator.issued_tokens[0]}
    # A forced refresh in one agent is one more request, and the others are not asked again.
    assert agents[0].unix("/v1/token/billing?min_ttl=7200").status == 200
    assert emulator.request_count == 2
