"""``tokenrack token --dpop-proof METHOD URL``, and DPoP keys across processes (real subprocesses).

A per-process DPoP key binds each process's token to that process: two CLI calls sharing a
file cache must not share a token. A ``dpop_key`` from a file is the fleet's key: they do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client, without_coverage
from tests.keys import private_pem
from tokenrack.testing import TokenEmulator
from tokenrack.testing.dpop import DPoPPersonality, DPoPResourceServer, DPoPVerifier

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


@pytest.fixture
def personality() -> DPoPPersonality:
    return DPoPPersonality()


@pytest.fixture
def emu(personality: DPoPPersonality) -> Iterator[TokenEmulator]:
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", personality=personality
    ) as emulator:
        yield emulator


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    cache_home = tmp_path / "xdg-cache"
    cache_home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("TOKENRACK_PROFILE", "TOKENRACK_CLI_CACHE", "TOKENRACK_CONFIG")
    }
    env.update({"CANARY_SECRET": SECRET, "XDG_CACHE_HOME": str(cache_home)})
    return without_coverage(env)


def write_config(tmp_path: Path, emulator: TokenEmulator, **options: Any) -> Path:
    profile = {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": {"env": "CANARY_SECRET"},
        "allow_insecure_http": True,
        "dpop": True,
        **options,
    }
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "profiles": {"api": profile}}))
    return path


def run(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [TOKENRACK, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert SECRET not in done.stderr and TOKEN_MARK not in done.stderr, done.stderr
    return done


def test_processes_with_their_own_keys_never_share_a_dpop_bound_token(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    first = run(config, environment, "token", "api")
    second = run(config, environment, "token", "api")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    # The same file cache, but each process's key has its own thumbprint, so its own key.
    assert first.stdout != second.stdout
    assert len(emu.issued_tokens) == 2


def test_processes_sharing_a_dpop_key_share_its_tokens(
    tmp_path: Path,
    emu: TokenEmulator,
    personality: DPoPPersonality,
    environment: dict[str, str],
) -> None:
    key = tmp_path / "dpop.pem"
    key.write_text(private_pem("p256"))
    key.chmod(0o600)
    config = write_config(tmp_path, emu, dpop_key={"file": str(key)})
    first = run(config, environment, "token", "api")
    second = run(config, environment, "token", "api")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(emu.issued_tokens) == 1
    assert set(personality.bindings.values()) == {
        DPoPVerifier().verify(
            run(
                config, environment, "token", "api", "--dpop-proof", "GET", "https://x.example/"
            ).stdout.strip(),
            method="GET",
            url="https://x.example/",
            access_token=emu.issued_tokens[0],
        )
    }


def test_dpop_proof_with_format_header_is_what_an_api_accepts(
    tmp_path: Path,
    emu: TokenEmulator,
    personality: DPoPPersonality,
    environment: dict[str, str],
) -> None:
    config = write_config(tmp_path, emu)
    with DPoPResourceServer(personality, require_nonce=False) as api:
        url = api.url + "/v1/users?limit=5"
        done = run(config, environment, "token", "api", "--dpop-proof", "GET", url, "--header")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("Authorization: DPoP ") and lines[1].startswith("DPoP: ")
        headers = dict(line.split(": ", 1) for line in lines)
        answer = requests.get(url, headers=headers, timeout=5)
    assert answer.status_code == 200, api.refusals


def test_dpop_proof_in_json_and_env_and_alone(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    url = "https://api.example.com/v1/users"
    document = json.loads(
        run(config, environment, "token", "api", "--dpop-proof", "POST", url, "--json").stdout
    )
    assert document["token_type"] == "DPoP" and document["dpop_proof"].count(".") == 2
    env = run(config, environment, "token", "api", "--dpop-proof", "POST", url, "--format", "env")
    assert "TOKENRACK_DPOP_PROOF=" in env.stdout and "TOKENRACK_TOKEN=" in env.stdout
    alone = run(config, environment, "token", "api", "--dpop-proof", "POST", url)
    assert alone.stdout.count(".") == 2 and TOKEN_MARK not in alone.stdout


def test_dpop_proof_errors_are_one_line_without_a_traceback(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    refused = run(
        config,
        environment,
        "token",
        "api",
        "--dpop-proof",
        "GET",
        "https://x.example/",
        "--format",
        "exec-credential",
    )
    assert refused.returncode == 2 and "exec-credential" in refused.stderr
    plain = write_config(tmp_path, emu, dpop=False)
    missing = run(plain, environment, "token", "api", "--dpop-proof", "GET", "https://x.example/")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    # Forgetting dpop: true against a server that requires it: the server's refusal, named.
    assert "invalid_dpop_proof" in missing.stderr, missing.stderr


def test_explain_says_each_attempt_carries_a_proof(
    tmp_path: Path, emu: TokenEmulator, environment: dict[str, str]
) -> None:
    config = write_config(tmp_path, emu)
    done = run(config, environment, "explain", "api")
    assert done.returncode == 0, done.stderr
    assert "DPoP: a fresh proof on every attempt (ES256, key generated in this process" in (
        done.stdout
    )
    assert "dpop_jkt: " in done.stdout
