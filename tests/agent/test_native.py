"""The native API of a real ``tokenrack serve``, against the emulator."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.agent.conftest import BEARER, StartAgent, agent_config
from tests.conftest import SECRET, TOKEN_MARK, profile
from tokenrack.testing import TokenEmulator

UID = os.getuid()


def _config(emulator: TokenEmulator, **agent: object) -> dict[str, object]:
    return agent_config(
        {
            "billing": profile(emulator, scopes=["read"]),
            "graph": profile(emulator, scopes=["graph"]),
            "hidden": profile(emulator, scopes=["hidden"]),
        },
        {
            "profiles": {"billing": {"uids": [UID]}, "graph": {"tcp": True}},
            "tcp_token": {"env": "TOKENRACK_AGENT_TOKEN"},
            **agent,
        },
    )


def test_a_unix_caller_gets_the_emulators_token_as_json_and_raw(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    answer = agent.unix("/v1/token/billing")
    assert answer.status == 200
    body = answer.json()
    assert body["access_token"] == emulator.issued_tokens[-1]
    assert body["token_type"] == "Bearer"
    assert 3500 < body["expires_in"] <= 3600
    assert body["expires_at"] > 0
    assert body["scope"] == "read"
    raw = agent.unix("/v1/token/billing?format=raw")
    assert raw.status == 200
    assert raw.body.decode() == body["access_token"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert emulator.request_count == 1  # the second answer came from the registry's cache


def test_curl_over_the_unix_socket(emulator: TokenEmulator, start_agent: StartAgent) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    agent = start_agent(_config(emulator), tcp=False)
    assert agent.socket is not None
    done = subprocess.run(
        [
            curl,
            "-sS",
            "--unix-socket",
            agent.socket,
            "http://localhost/v1/token/billing?format=raw",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == emulator.issued_tokens[-1]


def test_min_ttl_refreshes_a_token_with_less_time_left(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    first = agent.unix("/v1/token/billing").json()["access_token"]
    assert agent.unix("/v1/token/billing?min_ttl=60").json()["access_token"] == first
    assert emulator.request_count == 1
    second = agent.unix("/v1/token/billing?min_ttl=7200").json()["access_token"]
    assert second != first
    assert emulator.request_count == 2
    # More than the server's tokens ever have: one refresh, not one per call.
    for _ in range(5):
        assert agent.unix("/v1/token/billing?min_ttl=7200").json()["access_token"] == second
    assert emulator.request_count == 2
    bad = agent.unix("/v1/token/billing?min_ttl=soon")
    assert (bad.status, bad.json()["error"]) == (400, "bad_request")


def test_profiles_lists_only_what_this_caller_may_have(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    assert agent.unix("/v1/profiles").json() == {"profiles": ["billing"]}
    assert agent.tcp("/v1/profiles").json() == {"profiles": ["graph"]}
    assert agent.tcp("/v1/profiles", bearer=None).status == 401


def test_unix_callers_are_authorised_by_their_uid(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    for name in ("graph", "hidden", "nosuch"):  # tcp-only, not served, not a profile
        answer = agent.unix(f"/v1/token/{name}")
        assert answer.status == 404
        assert answer.json() == {
            "error": "not_found",
            "message": f"no profile {name!r} for this caller",
        }
    assert emulator.request_count == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a helper with another gid")
def test_a_helper_process_with_another_group_is_authorised_by_gid(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    config = _config(emulator)
    config["agent"]["profiles"] = {"billing": {"gids": [4242]}}  # type: ignore[index]
    agent = start_agent(config, args=["--socket-mode", "660"])
    assert agent.unix("/v1/token/billing").status == 404  # we are not in group 4242
    helper = (
        "import sys; from tests.agent.conftest import UnixHTTPConnection;"
        "c = UnixHTTPConnection(sys.argv[1]); c.request('GET', '/v1/token/billing?format=raw');"
        "r = c.getresponse(); print(r.status)"
    )
    done = subprocess.run(
        [os.sys.executable, "-c", helper, str(agent.socket)],  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        timeout=30,
        group=4242,
        extra_groups=[],
        cwd=os.getcwd(),
    )
    assert done.stdout.strip() == "200", done.stderr
    assert emulator.request_count == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a helper as another user")
def test_curl_as_another_user_gets_only_that_users_profiles(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    config = _config(emulator)
    config["agent"]["profiles"] = {"billing": {"uids": [65534]}, "graph": {"uids": [UID]}}  # type: ignore[index]
    # A socket directory others may enter (not write), and a socket our group may use: the
    # helper runs as uid 65534 in our group, so only peer credentials tell it apart.
    agent = start_agent(config, tcp=False, args=["--socket-mode", "660"], socket_dir_mode=0o711)

    def ask(profile: str) -> str:
        done = subprocess.run(
            [
                curl,
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
                str(agent.socket),
                f"http://localhost/v1/token/{profile}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            user=65534,
            group=os.getgid(),
            extra_groups=[],
        )
        return done.stdout

    assert ask("billing") == "200"
    assert ask("graph") == "404"
    assert agent.unix("/v1/token/billing").status == 404
    assert agent.unix("/v1/token/graph").status == 200
    assert emulator.request_count == 2


def test_tcp_callers_need_the_bearer_and_a_tcp_profile(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    assert agent.tcp("/v1/token/graph", bearer=None).status == 401
    wrong = agent.tcp("/v1/token/graph", bearer=BEARER + "x")
    assert (wrong.status, wrong.json()["error"]) == (401, "unauthorized")
    assert agent.tcp("/v1/token/graph", {"Authorization": f"Basic {BEARER}"}).status == 401
    assert agent.tcp("/v1/token/billing").status == 404  # unix only
    assert agent.tcp("/metrics", bearer=None).status == 401
    assert emulator.request_count == 0
    ok = agent.tcp("/v1/token/graph")
    assert ok.status == 200
    assert ok.json()["access_token"] == emulator.issued_tokens[-1]


def test_without_a_tcp_token_no_tcp_caller_gets_a_token(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    config = _config(emulator)
    del config["agent"]["tcp_token"]  # type: ignore[attr-defined]
    agent = start_agent(config)
    assert agent.tcp("/v1/token/graph").status == 401
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Host": "evil.example"},
        {"Host": "rebound.evil.example:80"},
    ],
    ids=["origin", "null-origin", "host", "host-port"],
)
def test_browser_like_requests_are_refused(
    emulator: TokenEmulator, start_agent: StartAgent, headers: dict[str, str]
) -> None:
    agent = start_agent(_config(emulator))
    over_tcp = agent.tcp("/v1/token/graph", headers)
    over_unix = agent.unix("/v1/token/billing", headers)
    assert over_tcp.status == over_unix.status == 403
    assert over_tcp.json()["error"] in {"browser_refused", "bad_host"}
    assert "Access-Control-Allow-Origin" not in over_tcp.headers
    assert emulator.request_count == 0


def test_the_host_may_name_the_listener_by_address_or_localhost(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator))
    assert agent.tcp("/v1/token/graph", {"Host": f"localhost:{agent.port}"}).status == 200
    assert agent.tcp("/v1/token/graph", {"Host": f"127.0.0.1:{agent.port + 1}"}).status == 403


def test_errors_have_the_status_of_their_class_and_no_secret(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    closed = profile(emulator, token_url="http://127.0.0.1:9/token", retries={"attempts": 1})
    config = agent_config(
        {
            "refused": profile(emulator, client_id="stranger"),
            "down": closed,
            "nosecret": profile(emulator, client_secret={"env": "AGENT_TEST_UNSET_VARIABLE"}),
        },
        {"profiles": {name: {"uids": [UID]} for name in ("refused", "down", "nosecret")}},
    )
    agent = start_agent(config)
    refused = agent.unix("/v1/token/refused")
    assert (refused.status, refused.json()["error"]) == (502, "token_refused")
    assert "invalid_client" in refused.json()["message"]
    down = agent.unix("/v1/token/down")
    assert (down.status, down.json()["error"]) == (503, "unavailable")
    missing = agent.unix("/v1/token/nosecret")
    assert (missing.status, missing.json()["error"]) == (500, "secret_unavailable")
    assert "AGENT_TEST_UNSET_VARIABLE" in missing.json()["message"]
    for answer in (refused, down, missing):
        assert set(answer.json()) == {"error", "message"}
        assert SECRET not in answer.body.decode()
        assert "Traceback" not in answer.body.decode()


def test_healthz_and_metrics(emulator: TokenEmulator, start_agent: StartAgent) -> None:
    agent = start_agent(_config(emulator))
    assert agent.unix("/healthz").json() == {"status": "ok"}
    agent.unix("/v1/token/billing")
    agent.unix("/v1/token/billing")
    agent.tcp("/v1/token/graph")
    text = agent.unix("/metrics").body.decode()
    assert 'tokenrack_agent_requests_total{profile="billing",outcome="ok"} 2' in text
    assert 'tokenrack_agent_requests_total{profile="graph",outcome="ok"} 1' in text
    assert 'tokenrack_fetches_total{profile="billing",reason="cold"} 1' in text
    assert 'tokenrack_hits_total{profile="billing"} 1' in text
    assert TOKEN_MARK not in text
    assert agent.tcp("/metrics").status == 200


def test_every_request_is_logged_without_its_token_even_at_debug(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    agent = start_agent(_config(emulator), verbose=2)
    agent.unix("/v1/token/billing")
    agent.unix("/v1/token/billing?format=raw")
    agent.tcp("/v1/token/graph")
    agent.tcp("/v1/token/graph", bearer="wrong")
    assert agent.stop() == 0
    log = agent.log()
    assert emulator.issued_tokens  # tokens were issued, and none is in the log
    for token in emulator.issued_tokens:
        assert token not in log
    assert TOKEN_MARK not in log
    assert SECRET not in log and BEARER not in log
    assert log.count(f"caller=uid={UID} profile=billing") == 2
    assert "caller=tcp profile=graph path=/v1/token/graph outcome=ok status=200" in log
    assert "caller=tcp profile=graph path=/v1/token/graph outcome=unauthorized status=401" in log
    assert "DEBUG" in log  # the agent really logged at debug


def test_a_dpop_profile_is_not_served_and_nothing_is_fetched(
    emulator: TokenEmulator, start_agent: StartAgent
) -> None:
    """Its token would be bound to the agent's key, which no caller holds (issue 13 x 14)."""
    uid = os.getuid()
    config = agent_config(
        {"bound": profile(emulator, dpop=True)}, {"profiles": {"bound": {"uids": [uid]}}}
    )
    agent = start_agent(config, tcp=False)
    answer = agent.unix("/v1/token/bound")
    assert answer.status == 501
    assert answer.json()["error"] == "dpop_not_served"
    assert emulator.request_count == 0
