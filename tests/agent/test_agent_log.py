"""The agent's stderr: each warning once, and ``-q`` silencing warnings only (issue 14).

``tokenrack serve`` writes its own lines (one per request, reloads, stopping) with a
timestamp even without ``-v``, while the CLI also shows warnings on stderr by default; a
real ``tokenrack serve`` process shows which lines come out, and how often.
"""

from __future__ import annotations

import os
import signal

from tests.agent.conftest import StartAgent, agent_config
from tests.conftest import profile, wait_until
from tokenrack.testing import TokenEmulator

UID = os.getuid()


def _config(emulator: TokenEmulator) -> dict[str, object]:
    return agent_config({"a": profile(emulator)}, {"profiles": {"a": {"uids": [UID]}}})


def test_an_agent_warning_appears_once(emulator: TokenEmulator, start_agent: StartAgent) -> None:
    agent = start_agent(_config(emulator), tcp=False)
    assert agent.unix("/v1/token/a").status == 200
    agent.signal(signal.SIGHUP)
    wait_until(lambda: "config reloaded" in agent.log())
    assert agent.stop() == 0
    log = agent.log()
    assert log.count("config reloaded") == 1, log
    assert log.count("stopping: draining requests in flight") == 1, log
    assert "tokenrack: warning:" not in log  # not repeated by the CLI's warning handler
    assert "WARNING tokenrack.agent" in log and "profile=a path=" in log


def test_quiet_silences_the_agents_warnings_not_its_requests_or_errors(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator), tcp=False, quiet=True)
    assert agent.unix("/v1/token/a").status == 200
    agent.config_path.write_text("version: 1\nprofiles: {}\nagent: {profiles: {gone: {}}}\n")
    agent.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in agent.log())  # an ERROR: shown under -q
    assert agent.stop() == 0
    log = agent.log()
    assert "listening on unix:" in log
    assert "INFO tokenrack.agent" in log and "profile=a" in log  # the request line
    assert "ERROR tokenrack.agent" in log
    assert "WARNING" not in log and "warning:" not in log and "stopping" not in log, log


def test_verbose_shows_each_agent_line_once(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    """With -v the CLI's handler shows everything; serve adds none of its own (a guard)."""
    agent = start_agent(_config(emulator), tcp=False, verbose=1)
    assert agent.unix("/v1/token/a").status == 200
    assert agent.stop() == 0
    log = agent.log()
    assert log.count("stopping: draining requests in flight") == 1, log
    assert len([line for line in log.splitlines() if "profile=a path=" in line]) == 1, log


def test_an_unusable_served_profile_is_named_at_start_and_the_others_are_served(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    broken = {**profile(emulator), "provider": "no-such-provider"}
    config = agent_config(
        {"a": profile(emulator), "broken": broken},
        {"profiles": {"a": {"uids": [UID]}, "broken": {"uids": [UID]}}},
    )
    agent = start_agent(config, tcp=False)
    assert agent.unix("/v1/token/a").status == 200
    assert agent.unix("/v1/token/broken").status >= 500
    assert agent.stop() == 0
    log = agent.log()
    assert log.count("profile broken is served but unusable") == 1, log
    assert "no-such-provider" in log
    assert "profile a is served but unusable" not in log
