"""The tokenrack command, run as the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client
from tokenrack.cli.output import iso8601
from tokenrack.testing import Fault, TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", token_format="opaque"
    ) as emulator:
        yield emulator


def write_config(tmp_path: Path, emulator: TokenEmulator, **profiles: dict[str, Any]) -> Path:
    base = {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": {"env": "CANARY_SECRET"},
        "retries": {"attempts": 2, "backoff": 0.01},
    }
    data = {
        "version": 1,
        "profiles": {
            name: {**base, **extra} for name, extra in (profiles or {"billing": {}}).items()
        },
    }
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every CLI call of a test shares one file cache of its own, never the user's."""
    directory = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(directory))
    return directory


def run(
    *args: str,
    config: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CANARY_SECRET": SECRET, **(env or {})}
    environment.pop("TOKENRACK_PROFILE", None) if "TOKENRACK_PROFILE" not in (env or {}) else None
    argv = [TOKENRACK, *(["--config", str(config)] if config else []), *args]
    done = subprocess.run(
        argv, capture_output=True, text=True, input=stdin, env=environment, timeout=60, check=False
    )
    # The redaction promise: never a secret or a token on stderr.
    assert SECRET not in done.stderr and TOKEN_MARK not in done.stderr, done.stderr
    return done


def test_token_prints_the_token_alone(tmp_path: Path, emu: TokenEmulator) -> None:
    done = run("token", "billing", config=write_config(tmp_path, emu))
    assert done.returncode == 0
    assert done.stdout == emu.issued_tokens[0] + "\n"


def test_token_json_keeps_the_token_under_access_token_only(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    emu.extra_response = {"instance_url": "https://i.example"}
    done = run(
        "token",
        "billing",
        "--json",
        config=write_config(tmp_path, emu, billing={"scopes": ["read"]}),
    )
    document = json.loads(done.stdout)
    assert document["access_token"] == emu.issued_tokens[0]
    rest = {k: v for k, v in document.items() if k != "access_token"}
    assert TOKEN_MARK not in json.dumps(rest) and SECRET not in json.dumps(rest)
    assert rest["token_type"] == "Bearer" and rest["scopes"] == ["read"]
    assert rest["expires_at"].endswith("Z") and 3500 < rest["expires_in"] <= 3600
    assert rest["extra"] == {"instance_url": "https://i.example"}


def test_header_and_profile_from_the_environment(tmp_path: Path, emu: TokenEmulator) -> None:
    done = run(
        "token",
        "--header",
        config=write_config(tmp_path, emu),
        env={"TOKENRACK_PROFILE": "billing"},
    )
    assert done.stdout == f"Authorization: Bearer {emu.issued_tokens[0]}\n"
    done = run("--profile", "billing", "token", config=write_config(tmp_path, emu))
    assert done.returncode == 0


def test_min_ttl_within_the_token_lifetime_is_served_from_the_cache(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    config = write_config(tmp_path, emu)
    first = run("token", "billing", "--min-ttl", "60", config=config).stdout
    assert emu.request_count == 1  # a fresh token lives 3600 s: one fetch, then the file cache
    again = run("token", "billing", "--min-ttl", "60", config=config)
    assert (again.returncode, again.stdout) == (0, first), again.stderr
    assert emu.request_count == 1
    run("token", "billing", "--force-refresh", config=config)
    assert emu.request_count == 2  # forced: one fetch, whatever is cached


def test_exec_passes_the_token_and_the_exit_status(tmp_path: Path, emu: TokenEmulator) -> None:
    script = "import os, sys; print(os.environ['MY_TOKEN']); sys.exit(7)"
    done = run(
        "exec",
        "billing",
        "--env",
        "MY_TOKEN",
        "--",
        sys.executable,
        "-c",
        script,
        config=write_config(tmp_path, emu),
    )
    assert done.returncode == 7
    assert done.stdout.strip() == emu.issued_tokens[0]


def test_exec_default_variable_and_no_shell(tmp_path: Path, emu: TokenEmulator) -> None:
    marker = tmp_path / "shell-ran"
    done = run(
        "exec",
        "billing",
        "--",
        sys.executable,
        "-c",
        "import os,sys; print(len(os.environ['TOKENRACK_TOKEN']), sys.argv[1:])",
        f"; touch {marker}",
        config=write_config(tmp_path, emu),
    )
    assert done.returncode == 0
    assert f"['; touch {marker}']" in done.stdout  # passed as one argument, not run by a shell
    assert not marker.exists()


def test_exec_missing_command(tmp_path: Path, emu: TokenEmulator) -> None:
    done = run("exec", "billing", "--", "no-such-program-here", config=write_config(tmp_path, emu))
    assert done.returncode == 127 and "cannot run 'no-such-program-here'" in done.stderr


def test_profiles_table_and_json(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write_config(
        tmp_path, emu, billing={"scopes": ["read"]}, reporting={"audience": "https://api"}
    )
    table = run("profiles", config=config).stdout.splitlines()
    assert table[0].split()[:4] == ["PROFILE", "PROVIDER", "AUTH", "METHOD"]
    assert table[1].split()[:5] == ["billing", "generic", "auto", "none", "read"]
    rows = json.loads(run("profiles", "--json", config=config).stdout)
    assert [r["name"] for r in rows] == ["billing", "reporting"]
    assert rows[1]["audience"] == "https://api" and rows[0]["cache"] == "none"
    assert run("profiles", "--names", config=config).stdout.split() == ["billing", "reporting"]


def test_providers_lists_plugins_with_distribution(tmp_path: Path) -> None:
    done = run("providers")
    assert done.returncode == 0
    assert "tokenrack.providers:" in done.stdout and "generic" in done.stdout
    rows = json.loads(run("providers", "--json").stdout)
    generic = next(r for r in rows if r["name"] == "generic")
    assert generic["distribution"] == "tokenrack" and generic["status"] == "ok"
    assert {r["group"] for r in rows} >= {
        "tokenrack.providers",
        "tokenrack.auth_methods",
        "tokenrack.secrets",
    }


def test_check_reports_each_profile_and_fails_when_one_fails(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    config = write_config(
        tmp_path, emu, good={}, missing={"client_secret": {"env": "NOT_SET_FOR_CHECK"}}
    )
    done = run("check", config=config)
    assert done.returncode == 5
    assert "good: config ok, secrets ok" in done.stdout
    assert "missing: FAILED" in done.stdout and "NOT_SET_FOR_CHECK is not set" in done.stdout
    done = run("check", "good", "--fetch", config=config)
    assert done.returncode == 0 and "token ok in" in done.stdout
    assert emu.request_count == 1


def test_check_fetch_reports_a_refusal(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write_config(
        tmp_path, emu, bad={"client_secret": "wrong", "auth_method": "client_secret_basic"}
    )
    done = run("check", "--fetch", config=config)
    assert done.returncode == 3 and "invalid_client" in done.stdout


def test_explain_shows_the_request_redacted(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write_config(
        tmp_path,
        emu,
        billing={
            "auth_method": "client_secret_post",
            "scopes": ["read"],
            "audience": "https://api",
        },
    )
    done = run("explain", "billing", config=config)
    out = done.stdout
    assert done.returncode == 0 and SECRET not in out
    assert f"POST {emu.token_url}" in out
    assert "client_secret=***" in out and "scope=read" in out and "audience=https://api" in out
    assert "auth method: client_secret_post (set in the profile)" in out
    assert "cache key:" in out and "client_id: canary-client" in out
    assert "refresh windows" in out and "cache backend: file at " in out  # the CLI's cache
    assert emu.request_count == 0  # explaining sends nothing


def test_explain_and_cache_say_clearly_when_a_secret_cannot_be_read(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    # The cache key binds the credential (docs/security.md, "Credential binding").
    config = write_config(tmp_path, emu, billing={"client_secret": {"env": "TR_TEST_UNSET"}})
    explained = run("explain", "billing", config=config)
    assert explained.returncode == 5
    assert f"token URL: {emu.token_url}" in explained.stdout
    assert "secrets: NOT resolved:" in explained.stdout
    assert "TR_TEST_UNSET is not set" in explained.stdout
    assert "cache key: unknown" in explained.stdout
    listed = run("cache", "list", config=config)
    assert listed.returncode == 5  # what is listed is not all there is
    assert "unavailable" in listed.stdout and "TR_TEST_UNSET is not set" in listed.stdout
    purged = run("cache", "purge", config=config)
    assert purged.returncode == 5 and "billing: could not purge" in purged.stdout
    checked = run("check", config=config)
    assert checked.returncode == 5 and "billing: FAILED" in checked.stdout


def test_explain_shows_assertion_claims_but_never_the_assertion(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    config = write_config(tmp_path, emu, billing={"auth_method": "client_secret_jwt"})
    out = run("explain", "billing", config=config).stdout
    assert "client_assertion=*** (a fresh HS256 JWT for every request: iss=canary-client" in out
    assert "eyJ" not in out


def test_inspect_a_jwt_from_a_profile_and_from_stdin(tmp_path: Path) -> None:
    with TokenEmulator([canary_client()], token_format="jwt") as emulator:
        config = write_config(tmp_path, emulator, billing={"scopes": ["read", "write"]})
        done = run("inspect", "billing", config=config)
        assert done.returncode == 0
        assert "decoded WITHOUT verifying" in done.stdout and "read write" in done.stdout
        assert emulator.issued_tokens[0] not in done.stdout
        document = json.loads(
            run("inspect", "--token", "-", "--json", stdin=emulator.issued_tokens[0]).stdout
        )
        assert document["format"] == "jwt" and document["claims"]["sub"] == CLIENT_ID
        assert 3500 < document["expires_in"] <= 3600
        assert document["expires_at"] == iso8601(document["claims"]["exp"])  # RFC 3339 UTC


def test_inspect_an_opaque_token(tmp_path: Path, emu: TokenEmulator) -> None:
    out = run("inspect", "billing", config=write_config(tmp_path, emu)).stdout
    assert "an opaque token" in out and "not a JWT" in out and TOKEN_MARK not in out
    document = json.loads(
        run("inspect", "billing", "--json", config=tmp_path / "tokenrack.yaml").stdout
    )
    # The one time format of every JSON output: an RFC 3339 UTC string, as token --json.
    token = json.loads(run("token", "billing", "--json", config=tmp_path / "tokenrack.yaml").stdout)
    assert document["expires_at"] == token["expires_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["expires_at"])


def test_schema_prints_the_composed_schema() -> None:
    from tokenrack.cli.schema_cmd import composed_schema

    assert json.loads(run("schema").stdout) == composed_schema()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("token", "biling"), 2, "did you mean 'billing'?"),
        (("token",), 2, "no profile given"),
        (("exec", "billing"), 2, "exec needs a command"),
        (("nope",), 2, "invalid choice"),
    ],
)
def test_usage_errors(
    tmp_path: Path, emu: TokenEmulator, args: tuple[str, ...], code: int, message: str
) -> None:
    done = run(*args, config=write_config(tmp_path, emu))
    assert done.returncode == code and message in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nprofiles:\n  a: [\n")
    done = run("token", "a", config=path)
    assert done.returncode == 2
    assert f"{path}: line 4, column 1" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_missing_secret_exits_5(tmp_path: Path, emu: TokenEmulator) -> None:
    done = run("token", "billing", config=write_config(tmp_path, emu), env={"CANARY_SECRET": ""})
    assert done.returncode == 5
    assert (
        "profiles.billing.client_secret: environment variable CANARY_SECRET is empty" in done.stderr
    )


def test_refusal_exits_3_and_unavailable_exits_4(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write_config(tmp_path, emu, billing={"auth_method": "client_secret_basic"})
    emu.fail_next(
        Fault.http(401, {"error": "invalid_client", "error_description": f"bad {SECRET}"})
    )
    done = run("token", "billing", config=config)
    assert (
        done.returncode == 3
        and "invalid_client" in done.stderr
        and "tokenrack explain billing" in done.stderr
    )
    emu.fail_next(Fault.http(503), Fault.http(503))
    done = run("token", "billing", config=config)
    assert done.returncode == 4 and "unavailable after 2 attempts" in done.stderr
    assert done.stdout == ""


def test_traceback_only_when_asked(tmp_path: Path, emu: TokenEmulator) -> None:
    config = write_config(tmp_path, emu)
    emu.fail_next(Fault.http(503), Fault.http(503))
    assert (
        "Traceback" in run("token", "billing", config=config, env={"TOKENRACK_DEBUG": "1"}).stderr
    )
    emu.fail_next(Fault.http(503), Fault.http(503))
    verbose = run("-v", "token", "billing", config=config)
    assert "Traceback" in verbose.stderr and "fetching token for profile billing" in verbose.stderr


def test_version() -> None:
    from tokenrack import __version__

    assert run("--version").stdout.strip() == f"tokenrack {__version__}"


def test_bash_completion_offers_commands_and_profile_names(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    config = write_config(tmp_path, emu, billing={}, reporting={})
    script = run("completion", "bash").stdout
    probe = tmp_path / "probe.sh"
    probe.write_text(
        script
        + f'COMP_WORDS=(tokenrack --config {config} token ""); COMP_CWORD=4; _tokenrack; echo "${{COMPREPLY[@]}}"\n'
        + 'COMP_WORDS=(tokenrack ex); COMP_CWORD=1; _tokenrack; echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(TOKENRACK).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(probe)], capture_output=True, text=True, env=env, check=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["billing", "reporting"]
    assert lines[1].split() == ["exec", "explain"]


def test_zsh_completion_reuses_the_bash_function() -> None:
    script = run("completion", "zsh").stdout
    assert script.startswith("#compdef tokenrack\nautoload -U +X bashcompinit && bashcompinit\n")
    assert "complete -F _tokenrack tokenrack" in script
    assert script.endswith(run("completion", "bash").stdout)


def test_explain_shows_a_client_assertion_only_as_stars_and_its_source(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    token_file = tmp_path / "federated-token"
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrOHMiLCJzdWIiOiJ3b3JrZXIifQ.c2lnbmF0dXJl"
    token_file.write_text(assertion)
    config = write_config(
        tmp_path,
        emu,
        billing={
            "auth_method": "client_assertion",
            "client_assertion": {"file": str(token_file)},
        },
    )
    done = run("explain", "billing", config=config)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "client_assertion=***\n" in out and "client_assertion_type=" in out
    assert f"client assertion: read from file '{token_file}' at every fetch" in out
    assert assertion not in out and "eyJ" not in out and "worker" not in out
    assert emu.request_count == 0


def test_token_in_separate_processes_shares_the_file_cache_across_a_rotation(
    tmp_path: Path,
) -> None:
    """Each ``tokenrack token`` is a process of its own; the file is rotated between two."""
    from tests.test_client_assertion import CLIENT, credential, federated_token
    from tokenrack.testing import EmulatorClient
    from tokenrack.testing.federated import FederatedPersonality

    token_file = tmp_path / "federated-token"
    token_file.write_text(federated_token())
    personality = FederatedPersonality([credential()])
    with TokenEmulator([EmulatorClient(CLIENT)], personality=personality) as server:
        config = tmp_path / "tokenrack.yaml"
        profile = {
            "provider": "generic",
            "token_url": server.token_url,
            "client_id": CLIENT,
            "auth_method": "client_assertion",
            "client_assertion": {"file": str(token_file)},
        }
        config.write_text(yaml.safe_dump({"version": 1, "profiles": {"k8s": profile}}))
        first = run("token", "k8s", config=config)
        assert first.returncode == 0, first.stderr
        token_file.write_text(federated_token())  # the kubelet rotates it
        second = run("token", "k8s", config=config)
        assert second.returncode == 0, second.stderr
        assert second.stdout == first.stdout
        assert server.request_count == 1
        forced = run("token", "k8s", "--force-refresh", config=config)
        assert forced.returncode == 0, forced.stderr
        assert dict(server.requests[1].form)["client_assertion"] == token_file.read_text()
