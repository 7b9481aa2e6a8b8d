"""``token --format``/``--min-ttl``, ``exec``'s profile and variables, ``default_profile``,
``TOKENRACK_CLI_CACHE``: each on the full path and on the warm path, as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client, without_coverage
from tokenrack.cli.output import FORMATS
from tokenrack.testing import TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", token_format="opaque"
    ) as emulator:
        yield emulator


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """A file cache of the test's own, the canary secret, no TOKENRACK_* settings."""
    cache_home = tmp_path / "xdg-cache"
    cache_home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("TOKENRACK_PROFILE", "TOKENRACK_CLI_CACHE", "TOKENRACK_CONFIG")
    }
    env.update({"CANARY_SECRET": SECRET, "XDG_CACHE_HOME": str(cache_home)})
    return without_coverage(env)


def write_config(tmp_path: Path, emulator: TokenEmulator, **top: Any) -> Path:
    profile = {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": {"env": "CANARY_SECRET"},
        "retries": {"attempts": 2, "backoff": 0.01},
    }
    # Different scopes: a token of its own for each profile.
    profiles = {"billing": profile, "reporting": {**profile, "scopes": ["reports"]}}
    data = {"version": 1, **top, "profiles": profiles}
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Ran:
    """A finished ``tokenrack`` call, and whether the warm path served it."""

    def __init__(self, done: subprocess.CompletedProcess[str], warm: bool) -> None:
        self.code = done.returncode
        self.stdout = done.stdout
        self.stderr = "\n".join(
            line for line in done.stderr.splitlines() if not line.startswith("import time:")
        )
        self.warm = warm


def run(config: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """``tokenrack --config config args…``; the warm path is told by what was imported."""
    argv = [sys.executable, "-X", "importtime", TOKENRACK, "--config", str(config), *args]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, input=stdin, timeout=60, check=False
    )
    warm = "tokenrack.cli.main" not in done.stderr
    ran = Ran(done, warm)
    # The redaction promise: never a secret or a token on stderr.
    assert SECRET not in ran.stderr and TOKEN_MARK not in ran.stderr, ran.stderr
    return ran


# --min-ttl


def test_min_ttl_longer_than_the_server_grants_fails_once_fetched_then_without_a_request(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    first = run(config, environment, "token", "billing", "--min-ttl", "7200")
    assert (first.code, first.stdout, first.warm) == (2, "", False)
    assert "--min-ttl 7200 cannot be met: its tokens live 3600 s" in first.stderr
    assert emu.request_count == 1  # one fetch shows what the server grants
    again = run(config, environment, "token", "billing", "--min-ttl", "7200")
    assert (again.code, again.stderr, again.warm) == (2, first.stderr, True)
    full = run(config, environment, "-v", "token", "billing", "--min-ttl", "3600")
    assert full.code == 2 and not full.warm and "cannot be met" in full.stderr
    assert emu.request_count == 1  # neither path asked again
    # The cached token itself is still served to whoever asks for what it can give.
    served = run(config, environment, "token", "billing", "--min-ttl", "60")
    assert served.code == 0 and served.stdout == emu.issued_tokens[0] + "\n"


def test_min_ttl_without_a_shared_cache_fetches_once_per_call(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    env = {**environment, "TOKENRACK_CLI_CACHE": "off"}
    done = run(config, env, "token", "billing", "--min-ttl", "7200")
    assert done.code == 2 and "cannot be met" in done.stderr
    assert emu.request_count == 1  # the token just fetched says it all: no second request


class _Past:
    """The system clock, 3000 s ago: a token fetched with it is 3000 s old now."""

    def monotonic(self) -> float:
        return time.monotonic() - 3000

    def time(self) -> float:
        return time.time() - 3000

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_min_ttl_within_the_lifetime_refreshes_an_older_token(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenrack.core.registry import Registry

    config = write_config(tmp_path, emu)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # A token put in the CLI's file cache 3000 s ago: 600 s of its 3600 s are left.
    with Registry.from_file(config, default_cache={"backend": "file"}, clock=_Past()) as old:
        aged = old.get_token("billing").access_token
    warm = run(config, environment, "token", "billing")  # fills the snapshot: warm from now
    assert warm.stdout == aged + "\n"
    assert run(config, environment, "token", "billing", "--min-ttl", "500").stdout == warm.stdout
    done = run(config, environment, "token", "billing", "--min-ttl", "1000")
    assert done.code == 0 and done.stdout == emu.issued_tokens[-1] + "\n" != warm.stdout
    assert emu.request_count == 2  # one refresh: a new token lives 3600 s > 1000 s


@pytest.mark.parametrize("value", ["-5", "nan", "soon"])
def test_min_ttl_must_be_seconds_zero_or_more(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], value: str
) -> None:
    done = run(write_config(tmp_path, emu), environment, "token", "billing", "--min-ttl", value)
    assert done.code == 2 and "argument --min-ttl: expected seconds" in done.stderr
    assert emu.request_count == 0


# --format


def _without_times(text: str) -> str:
    return re.sub(r'"expires_in": \d+', '"expires_in": N', text)


@pytest.mark.parametrize("output", FORMATS)
def test_every_format_prints_the_same_bytes_warm_and_cold(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], output: str
) -> None:
    config = write_config(tmp_path, emu)
    emu.extra_response = {"instance_url": "https://i.example"}
    run(config, environment, "token", "billing")  # fetch and record the snapshot
    cold = run(config, environment, "-v", "token", "billing", "--format", output)
    warm = run(config, environment, "token", "billing", "--format", output)
    assert (cold.code, cold.warm, warm.code, warm.warm) == (0, False, 0, True), warm.stderr
    assert _without_times(warm.stdout) == _without_times(cold.stdout)
    assert emu.issued_tokens[0] in warm.stdout and emu.request_count == 1


def test_json_and_header_stay_aliases(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    for alias, output in (("--json", "json"), ("--header", "header")):
        by_alias = run(config, environment, "token", "billing", alias).stdout
        by_format = run(config, environment, "token", "billing", "--format", output).stdout
        assert _without_times(by_alias) == _without_times(by_format)
    both = run(config, environment, "token", "billing", "--json", "--format", "env")
    assert both.code == 2 and "not allowed with argument" in both.stderr


def test_env_format_is_safe_to_eval(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    emu.token_prefix = f"{TOKEN_MARK}-$(touch {tmp_path}/ran)'\"-"  # a hostile token
    lines = run(config, environment, "token", "billing", "--format", "env").stdout
    shell = 'eval "$1"; printf "%s\\n%s" "$TOKENRACK_TOKEN" "$TOKENRACK_TOKEN_EXPIRES_AT"'
    done = subprocess.run(
        ["sh", "-c", shell, "sh", lines], capture_output=True, text=True, check=True, timeout=30
    )
    token, expires_at = done.stdout.split("\n")
    assert token == emu.issued_tokens[0] and not (tmp_path / "ran").exists()
    assert abs(int(expires_at) - (time.time() + 3600)) < 60


def test_exec_credential_is_what_kubectl_reads(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    done = run(config, environment, "token", "billing", "--format", "exec-credential")
    document = json.loads(done.stdout)
    assert document["apiVersion"] == "client.authentication.k8s.io/v1"
    assert document["kind"] == "ExecCredential"
    assert document["status"]["token"] == emu.issued_tokens[0]
    assert RFC3339.fullmatch(document["status"]["expirationTimestamp"])
    # kubectl says which version it wants in KUBERNETES_EXEC_INFO; both paths answer in it.
    info = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}
    env = {**environment, "KUBERNETES_EXEC_INFO": json.dumps({**info, "spec": {}})}
    for extra in ((), ("-v",)):
        asked = run(config, env, *extra, "token", "billing", "--format", "exec-credential")
        assert json.loads(asked.stdout)["apiVersion"] == info["apiVersion"]


def test_json_times_are_rfc3339_utc(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    token = json.loads(run(config, environment, "token", "billing", "--json").stdout)
    inspected = json.loads(run(config, environment, "inspect", "billing", "--json").stdout)
    listed = json.loads(run(config, environment, "cache", "list", "billing", "--json").stdout)
    assert RFC3339.fullmatch(token["expires_at"])
    assert inspected["expires_at"] == token["expires_at"]
    assert token["expires_at"] in [entry["expires_at"] for entry in listed]


# exec


def _exec_probe(variable: str = "TOKENRACK_TOKEN") -> list[str]:
    code = (
        "import os; "
        f"print(os.environ.get({variable!r}), os.environ.get({variable + '_EXPIRES_AT'!r}))"
    )
    return ["--", sys.executable, "-c", code]


@pytest.mark.parametrize("warm", [False, True])
def test_exec_honours_profile_and_tokenrack_profile(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], warm: bool
) -> None:
    config = write_config(tmp_path, emu)
    run(config, environment, "token", "billing")
    full = () if warm else ("-v",)  # -v: the full command line
    by_option = run(config, environment, *full, "--profile", "billing", "exec", *_exec_probe())
    by_variable = run(
        config, {**environment, "TOKENRACK_PROFILE": "billing"}, *full, "exec", *_exec_probe()
    )
    for done in (by_option, by_variable):
        assert done.code == 0 and done.warm == warm, done.stderr
        token, expires_at = done.stdout.split()
        assert token == emu.issued_tokens[0]
        assert abs(int(expires_at) - (time.time() + 3600)) < 60
    assert emu.request_count == 1


def test_exec_env_names_its_expiry_too(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    done = run(
        write_config(tmp_path, emu),
        environment,
        "exec",
        "billing",
        "--env",
        "API_TOKEN",
        *_exec_probe("API_TOKEN"),
    )
    token, expires_at = done.stdout.split()
    assert token == emu.issued_tokens[0] and expires_at.isdigit()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1BAD", "is not a variable name"),
        ("BAD-NAME", "is not a variable name"),
        ("", "is not a variable name"),
        ("PATH", "PATH is needed by the command"),
        ("HOME", "HOME is needed"),
        ("LD_PRELOAD", "LD_PRELOAD is needed"),
        ("TOKENRACK_CONFIG", "TOKENRACK_CONFIG is needed"),
    ],
)
def test_exec_refuses_a_variable_that_would_break_the_command(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], name: str, reason: str
) -> None:
    config = write_config(tmp_path, emu)
    run(config, environment, "token", "billing")  # the warm path refuses it too
    done = run(config, environment, "exec", "billing", "--env", name, *_exec_probe())
    assert done.code == 2 and reason in done.stderr and done.stdout == ""
    assert "usage: tokenrack exec [options] [PROFILE] -- CMD [ARGS...]" in done.stderr


# default_profile (the config key comes with the config schema's own change)


def _needs_default_profile() -> None:
    from tokenrack.core.registry import Registry

    if not hasattr(Registry, "default_profile"):
        pytest.skip("Registry.default_profile (the default_profile config key) is not merged yet")


@pytest.mark.parametrize("command", ["token", "exec", "inspect", "explain"])
def test_default_profile_is_used_when_none_is_named(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], command: str
) -> None:
    _needs_default_profile()
    config = write_config(tmp_path, emu, default_profile="reporting")
    argv = {"token": [], "exec": _exec_probe(), "inspect": [], "explain": []}[command]
    done = run(config, environment, command, *argv)
    assert done.code == 0, done.stderr
    shown = done.stdout
    assert ("reporting" in shown) if command in ("inspect", "explain") else True
    if command == "token":
        assert shown == emu.issued_tokens[0] + "\n"
        again = run(config, environment, "token")  # the snapshot knows the default
        assert again.warm and again.stdout == shown and emu.request_count == 1


def test_default_profile_comes_last(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    _needs_default_profile()
    config = write_config(tmp_path, emu, default_profile="reporting")
    default = run(config, environment, "token").stdout
    named = run(config, environment, "token", "billing").stdout
    by_option = run(config, environment, "--profile", "billing", "token").stdout
    by_variable = run(config, {**environment, "TOKENRACK_PROFILE": "billing"}, "token").stdout
    assert named == by_option == by_variable != default
    assert emu.request_count == 2


def test_no_profile_and_no_default_says_how_to_name_one(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    done = run(write_config(tmp_path, emu), environment, "token")
    assert done.code == 2 and "no profile given" in done.stderr
    assert "default_profile" in done.stderr


# TOKENRACK_CLI_CACHE


@pytest.mark.parametrize("value", ["of", "no", "disabled"])
def test_a_cli_cache_typo_is_an_error_naming_the_allowed_values(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], value: str
) -> None:
    config = write_config(tmp_path, emu)
    run(config, environment, "token", "billing")  # the warm path must not hide it either
    done = run(config, {**environment, "TOKENRACK_CLI_CACHE": value}, "token", "billing")
    assert done.code == 2 and done.stdout == ""
    assert f"TOKENRACK_CLI_CACHE={value!r} is not understood" in done.stderr
    assert "on/1/true/off/0/false" in done.stderr


@pytest.mark.parametrize(("value", "fetches"), [("0", 3), ("False", 3), ("1", 1), ("ON", 1)])
def test_cli_cache_values(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str], value: str, fetches: int
) -> None:
    config = write_config(tmp_path, emu)
    env = {**environment, "TOKENRACK_CLI_CACHE": value}
    for _ in range(3):
        assert run(config, env, "token", "billing").code == 0
    assert emu.request_count == fetches
