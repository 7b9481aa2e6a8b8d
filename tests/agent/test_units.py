"""The agent's pure parts: settings, caller checks, listen addresses, statuses, metrics, reload."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import agent_config, write_config
from tests.conftest import SECRET, profile
from tokenrack.agent.access import Caller, bearer_of, browser_refusal, may_use, secret_matches
from tokenrack.agent.listen import Listener, default_socket_path, parse_listener
from tokenrack.agent.metrics import AgentMetrics
from tokenrack.agent.settings import AGENT_SCHEMA, ProfileAccess, parse_agent_settings
from tokenrack.agent.state import AgentState, load
from tokenrack.agent.status import STATUS_TABLE, status_of
from tokenrack.errors import (
    ConfigError,
    InvalidClientError,
    ProfileNotFoundError,
    SecretError,
    TokenEndpointUnavailableError,
)
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.testing import TokenEmulator

ROOT = Path(__file__).resolve().parents[2]


def _settings(section: Any, profiles: set[str] = frozenset({"a", "b"})) -> Any:  # type: ignore[assignment]
    return parse_agent_settings(section, source="agent.yaml", profiles=profiles)


def test_settings_parse_every_key() -> None:
    settings = _settings(
        {
            "profiles": {"a": {"uids": [1], "gids": [2]}, "b": {"tcp": True}},
            "tcp_token": {"env": "T"},
            "azure": {"header_secret": "literal", "resources": {"r": "b"}, "client_id": "c"},
            "google": {"default": "a", "scopes": {"s": "b"}, "email": "e@x"},
        }
    )
    assert settings.profiles["a"] == ProfileAccess(uids=frozenset({1}), gids=frozenset({2}))
    assert settings.profiles["b"].tcp
    assert settings.tcp_token == SecretRef("env", "T")
    assert settings.azure_header_secret == Secret("literal")
    assert (settings.azure_resources, settings.azure_client_id) == ({"r": "b"}, "c")
    assert settings.google and settings.google_default == "a"
    assert (settings.google_scopes, settings.google_email) == ({"s": "b"}, "e@x")
    assert not _settings({"profiles": {}}).google


def test_settings_problems_name_their_paths_and_hide_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        _settings({"profiles": {"a": {"uids": [-1]}}, "tcp_token": 5, "azure": {"resources": {}}})
    paths = {problem.path for problem in caught.value.problems}
    assert {"agent.profiles.a.uids[0]", "agent.tcp_token", "agent.azure.header_secret"} <= paths
    with pytest.raises(ConfigError) as caught:
        _settings({"profiles": {"a": {}}, "tcp_token": [SECRET]})
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        _settings(
            {
                "profiles": {"a": {}},
                "azure": {"header_secret": "x", "resources": {"r": "b"}},
                "google": {"default": "zz"},
            }
        )
    assert [str(p) for p in caught.value.problems] == [
        "agent.google.default: 'zz' is not a profile of this file",
        "agent.azure.resources.r: 'b' is not listed under agent.profiles",
    ]
    with pytest.raises(ConfigError, match="no `agent` section"):
        _settings(None)


def test_every_agent_key_is_documented() -> None:
    text = (ROOT / "docs" / "agent.md").read_text()
    keys: set[str] = set()

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            for key, value in schema.get("properties", {}).items():
                keys.add(key)
                walk(value)
            walk(schema.get("additionalProperties"))

    walk(AGENT_SCHEMA)
    assert sorted(k for k in keys if f"| `{k}` |" not in text) == []


def test_the_example_config_is_a_valid_agent_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKENRACK_AGENT_TOKEN", "TOKENRACK_IDENTITY_HEADER"):
        monkeypatch.setenv(name, "x")
    loaded = load(str(ROOT / "docs" / "examples" / "agent" / "agent.yaml"))
    assert set(loaded.settings.profiles) == {"billing", "graph"}
    assert loaded.azure_header == Secret("x")


def test_may_use() -> None:
    rule = ProfileAccess(uids=frozenset({10}), gids=frozenset({20}), tcp=True)
    assert may_use(Caller(tcp=False, uid=10, gid=1), rule, authenticated=False)
    assert may_use(Caller(tcp=False, uid=11, gid=20), rule, authenticated=False)
    assert not may_use(Caller(tcp=False, uid=11, gid=21), rule, authenticated=True)
    assert may_use(Caller(tcp=True, port=1), rule, authenticated=True)
    assert not may_use(Caller(tcp=True, port=1), rule, authenticated=False)
    assert not may_use(Caller(tcp=True, port=1), ProfileAccess(), authenticated=True)


def test_secrets_compare_only_when_both_are_there() -> None:
    assert secret_matches("abc", Secret("abc"))
    assert not secret_matches("abd", Secret("abc"))
    assert not secret_matches(None, Secret("abc"))
    assert not secret_matches("abc", None)
    assert bearer_of({"Authorization": "bearer  abc "}) == "abc"
    assert bearer_of({"Authorization": "Basic abc"}) is None
    assert bearer_of({"Authorization": "Bearer"}) is None
    assert bearer_of({}) is None


def test_hosts_accepted_per_listener() -> None:
    unix = Caller(tcp=False, uid=1)
    tcp = Caller(tcp=True, port=8790, address="127.0.0.1")
    assert browser_refusal({}, unix) is None
    assert browser_refusal({"Host": "localhost"}, unix) is None
    assert browser_refusal({"Host": "127.0.0.1:8790"}, unix) is not None
    for host in ("127.0.0.1:8790", "LOCALHOST:8790", "[::1]:8790"):
        assert browser_refusal({"Host": host}, tcp) is None
    assert browser_refusal({"Host": "10.0.0.5:8790"}, tcp) is not None
    wide = Caller(tcp=True, port=8790, address="10.0.0.5")  # a non-loopback listener
    assert browser_refusal({"Host": "10.0.0.5:8790"}, wide) is None
    assert browser_refusal({"Host": "rebound.example:8790"}, wide) is not None
    v6 = Caller(tcp=True, port=8790, address="fd00::5")
    assert browser_refusal({"Host": "[fd00::5]:8790"}, v6) is None
    assert browser_refusal({"Host": "127.0.0.1"}, tcp) is not None
    assert browser_refusal({"Host": "127.0.0.1"}, Caller(tcp=True, port=80)) is None
    refusal = browser_refusal({"Host": "127.0.0.1:8790", "Origin": "null"}, tcp)
    assert refusal is not None and (refusal.status, refusal.error) == (403, "browser_refused")


def test_listen_addresses() -> None:
    assert parse_listener("unix:/run/a.sock") == Listener(unix="/run/a.sock")
    assert parse_listener("tcp://127.0.0.1:8790") == Listener(host="127.0.0.1", port=8790)
    assert parse_listener("tcp://[::1]:0").describe() == "tcp://[::1]:0"
    assert parse_listener("tcp://10.1.2.3:1", allow_non_loopback=True).host == "10.1.2.3"
    for bad in ("tcp://127.0.0.1", "tcp://127.0.0.1:x", "tcp://127.0.0.1:1/path", "udp://1"):
        with pytest.raises(ConfigError):
            parse_listener(bad)


def test_default_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert default_socket_path() == "/run/user/7/tokenrack/agent.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(ConfigError, match="XDG_RUNTIME_DIR"):
        default_socket_path()


def test_status_table_follows_the_cli_exit_code_classes() -> None:
    assert status_of(ProfileNotFoundError("x", known=[])) == (404, "not_found")
    assert status_of(SecretError("x")) == (500, "secret_unavailable")
    assert status_of(ConfigError("x")) == (500, "config_error")
    assert status_of(InvalidClientError(status=401, error="invalid_client")) == (
        502,
        "token_refused",
    )
    assert status_of(TokenEndpointUnavailableError("down", attempts=1)) == (503, "unavailable")
    assert status_of(RuntimeError()) == (500, "failed")
    # More specific classes come first, so each row is reachable.
    kinds = [kind for kind, _, _ in STATUS_TABLE]
    for i, kind in enumerate(kinds):
        assert not any(issubclass(kind, earlier) for earlier in kinds[:i])


def test_metrics_text() -> None:
    metrics = AgentMetrics()
    metrics.count('we"ird\\', "ok")
    text = metrics.render(
        {"a": {"hits": 3, "fetches": {"cold": 1}, "failures": {"refused": 2}, "expires_in": 9.5}}
    )
    assert 'tokenrack_agent_requests_total{profile="we\\"ird\\\\",outcome="ok"} 1' in text
    assert 'tokenrack_hits_total{profile="a"} 3' in text
    assert 'tokenrack_fetches_total{profile="a",reason="cold"} 1' in text
    assert 'tokenrack_failures_total{profile="a",kind="refused"} 2' in text
    assert 'tokenrack_expires_in_seconds{profile="a"} 9.5' in text
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r"^[a-z_]+\{.*\} [0-9.]+$", line), line


def test_reload_keeps_unchanged_registries_and_serves_changed_ones_from_a_new_one(
    emulator: TokenEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    profiles = {"a": profile(emulator), "b": profile(emulator, scopes=["b"])}
    write_config(path, agent_config(profiles, {"profiles": {"a": {}, "b": {}}}))
    state = AgentState(str(path), load(str(path)))
    first = state.registry("a")
    assert first is not None and state.registry("b") is first
    write_config(
        path,
        agent_config(
            {**profiles, "b": profile(emulator, scopes=["c"])}, {"profiles": {"a": {}, "b": {}}}
        ),
    )
    assert state.reload() == ["b"]
    assert state.registry("a") is first and state.registry("b") is not first
    write_config(path, agent_config(profiles, {"profiles": {"b": {}}}))
    assert state.reload() == ["b"]
    assert state.registry("a") is None
    assert set(state.stats()) == {"b"}
    state.close()


def test_a_bound_socket_family_is_what_identifies_the_caller() -> None:
    from tokenrack.agent.access import RequestRefusedError, caller_of

    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        found = caller_of(left)
        assert not found.tcp and found.uid is not None and found.label == f"uid={found.uid}"
    finally:
        left.close()
        right.close()
    with pytest.raises(RequestRefusedError):
        caller_of(None)
