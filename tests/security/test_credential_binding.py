"""F2: a token is served only to a holder of the credential that obtained it (issue 10 §1).

Each test plays one attacker: a profile with a wrong, empty or absent secret sharing the
client id and token URL (which are not secret) of a real one, in one process, through the
file cache between CLI processes, through Redis sharing the fleet's ``encryption_key``, and
through the CLI's warm path. Each one is served another credential's token on the code
before the credential fingerprint, and is refused by the server with its own request after.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, FakeClock
from tests.conftest import profile as emulator_profile
from tokenrack.core.registry import Registry
from tokenrack.errors import InvalidClientError
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]
WRONG = "not-the-secret"


def _tokenrack() -> str:
    return str(Path(sys.executable).with_name("tokenrack"))


def profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    """The canary profile, with one auth method so that a refusal is one request."""
    return emulator_profile(emulator, **{"auth_method": "client_secret_basic", **options})


def _public(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without a client secret: a public client (``auth_method: none``)."""
    return {k: v for k, v in options.items() if k != "client_secret"}


def test_wrong_empty_and_public_profiles_each_get_their_own_refusal(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    """F2 in one process: same client_id and token URL, wrong/empty/no secret -> own request."""
    registry = make_registry(
        {
            "good": profile(emulator),
            "wrong": profile(emulator, client_secret=WRONG),
            "empty": profile(emulator, client_secret="${TR_TEST_EMPTY:-}"),
            "public": _public(profile(emulator, auth_method="none")),
        },
        environ={},
    )
    good = registry.get_token("good")
    for name in ("wrong", "empty", "public"):
        with pytest.raises(InvalidClientError):
            registry.get_token(name)
    # Each of the three asked for itself (and was refused); none was served good's token.
    assert emulator.request_count == 4
    assert registry.get_token("good") is good


def test_a_wrong_profiles_refusal_does_not_lock_out_the_right_one(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    """F2: one wrong profile's invalid_client cooldown must not shut out the right profile."""
    registry = make_registry(
        {"wrong": profile(emulator, client_secret=WRONG), "good": profile(emulator)},
        clock=clock,
    )
    with pytest.raises(InvalidClientError):
        registry.get_token("wrong")
    assert registry.get_token("good").access_token
    assert emulator.request_count == 2
    with pytest.raises(InvalidClientError):
        registry.get_token("wrong")  # the wrong one is still in its own cooldown
    assert emulator.request_count == 2


def test_the_same_credential_in_two_profiles_makes_one_request(
    emulator: TokenEmulator, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F2's fix keeps sharing: the same secret, written two ways, is one token and one request."""
    monkeypatch.setenv("TR_TEST_SECRET", SECRET)
    registry = make_registry(
        {
            "inline": profile(emulator, auth_method="client_secret_basic"),
            "from-env": profile(
                emulator, auth_method="client_secret_post", client_secret={"env": "TR_TEST_SECRET"}
            ),
        }
    )
    assert registry.get_token("inline") is registry.get_token("from-env")
    assert emulator.request_count == 1


def test_a_rotated_file_secret_gets_a_new_key_and_one_fetch(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    """F2: after a refusal the secret is read again; a rotated one is not held in cooldown."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(WRONG + "\n")
    registry = make_registry(
        {"svc": profile(emulator, client_secret={"file": str(secret_file)})}, clock=clock
    )
    wrong_key = registry.runtime("svc").cache_key
    with pytest.raises(InvalidClientError):
        registry.get_token("svc")
    with pytest.raises(InvalidClientError):
        registry.get_token("svc")  # unchanged and wrong: the same key, the same cooldown
    assert emulator.request_count == 1
    secret_file.write_text(SECRET + "\n")
    clock.advance(1.0)  # secrets are read again at most once a second during the cooldown
    assert registry.get_token("svc").access_token  # rotated: its own key, one fetch
    assert emulator.request_count == 2
    assert registry.runtime("svc").cache_key != wrong_key


def test_a_refused_command_secret_is_not_run_on_every_call_during_the_cooldown(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    """Re-reading a refused profile's secrets is bounded: once a second, not once a call."""
    runs = tmp_path / "runs"
    script = f"echo run >> {runs}; echo {WRONG}"
    registry = make_registry(
        {"svc": profile(emulator, client_secret={"command": ["sh", "-c", script]})},
        clock=clock,
    )
    for _ in range(50):
        with pytest.raises(InvalidClientError):
            registry.get_token("svc")
    # Built once, built again after the refusal the server sent; the 48 repetitions in the
    # same second read nothing.
    assert runs.read_text().count("run") == 2
    assert emulator.request_count == 1
    clock.advance(1.0)
    with pytest.raises(InvalidClientError):
        registry.get_token("svc")
    assert runs.read_text().count("run") == 3


def test_the_fingerprint_is_keyed_and_never_in_a_key_name(
    emulator: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    """F2: the credential part is no plain SHA-256 of the secret, and differs per fleet key."""
    import redis

    def registry_with(encryption_key: str) -> Registry:
        cache = {
            "backend": "redis",
            "url": redis_url,
            "key_prefix": redis_prefix,
            "encryption_key": encryption_key,
        }
        return make_registry({"svc": profile(emulator, cache=cache)})

    first = registry_with("fleet-key-one-" + "x" * 32)
    other = registry_with("fleet-key-two-" + "x" * 32)
    fingerprint = first.runtime("svc").cache_key_parts["credential"]
    assert fingerprint != other.runtime("svc").cache_key_parts["credential"]
    plain = hashlib.sha256(SECRET.encode()).hexdigest()
    assert fingerprint not in plain and plain[: len(fingerprint)] != fingerprint
    first.get_token("svc")
    client = redis.Redis.from_url(redis_url)
    try:
        names = [n.decode() for n in client.scan_iter(match=redis_prefix + "*")]
    finally:
        client.close()
    assert names
    for name in names:
        for needle in (SECRET, "CANARYSECRET", plain[:16], fingerprint):
            assert needle not in name


def test_redis_with_the_fleet_key_serves_no_token_to_a_service_without_the_secret(
    emulator: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    """F2 through Redis sharing one encryption_key: a service with no secret is refused."""
    cache = {
        "backend": "redis",
        "url": redis_url,
        "key_prefix": redis_prefix,
        "encryption_key": "the-fleet-key-" + "k" * 32,
    }
    service_a = make_registry({"svc": profile(emulator, cache=cache)})
    service_b = make_registry({"svc": _public(profile(emulator, cache=cache, auth_method="none"))})
    token = service_a.get_token("svc")
    with pytest.raises(InvalidClientError):
        service_b.get_token("svc")
    assert emulator.request_count == 2
    # And a second service holding the secret still shares service A's token.
    service_c = make_registry({"svc": profile(emulator, cache=cache)})
    assert service_c.get_token("svc").access_token == token.access_token
    assert emulator.request_count == 2


def test_plaintext_redis_serves_no_token_to_a_wrong_secret(
    emulator: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    """F2 through Redis without encryption_key (plaintext: true): keyed by scrypt, not shared."""
    cache = {"backend": "redis", "url": redis_url, "key_prefix": redis_prefix, "plaintext": True}
    right = make_registry({"svc": profile(emulator, cache=cache)})
    wrong = make_registry({"svc": profile(emulator, cache=cache, client_secret=WRONG)})
    token = right.get_token("svc")
    with pytest.raises(InvalidClientError):
        wrong.get_token("svc")
    assert emulator.request_count == 2
    fingerprint = right.runtime("svc").cache_key_parts["credential"]
    assert fingerprint not in hashlib.sha256(SECRET.encode()).hexdigest()
    again = make_registry({"svc": profile(emulator, cache=cache)})
    assert again.get_token("svc").access_token == token.access_token
    assert emulator.request_count == 2


# -- the CLI: real processes sharing the file cache ------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose file cache (and CLI snapshots) live in a fresh directory."""
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENRACK_", "TR_TEST_"))}
    env["XDG_CACHE_HOME"] = str(cache)
    yield env


def _config(path: Path, emulator: TokenEmulator, client_secret: Any) -> str:
    document = {
        "version": 1,
        "profiles": {
            "svc": {
                "provider": "generic",
                "token_url": emulator.token_url,
                "client_id": CLIENT_ID,
                "client_secret": client_secret,
                "auth_method": "client_secret_basic",
            }
        },
    }
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return str(path)


def _token(config: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tokenrack(), "--config", config, "token", "svc"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_configs_sharing_the_file_cache_do_not_share_across_credentials(
    emulator: TokenEmulator, cli_home: dict[str, str], tmp_path: Path
) -> None:
    """F2 across processes: a CLI config with a wrong secret never reads the right one's token.

    The second call of the wrong config is the warm path's chance; it must not take it.
    """
    good = _config(tmp_path / "good.yaml", emulator, SECRET)
    wrong = _config(tmp_path / "wrong.yaml", emulator, WRONG)
    done = _token(good, cli_home)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    for _ in range(2):
        refused = _token(wrong, cli_home)
        assert refused.returncode != 0
        assert token not in refused.stdout + refused.stderr
    assert emulator.request_count == 3
    assert _token(good, cli_home).stdout.strip() == token  # still shared by the right one
    assert emulator.request_count == 3


@pytest.mark.parametrize("source", ["env", "file"])
def test_the_warm_path_notices_a_changed_secret(
    source: str, emulator: TokenEmulator, cli_home: dict[str, str], tmp_path: Path
) -> None:
    """F2 on the CLI warm path: a changed {env:}/{file:} secret is not served the old token."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    reference = {"env": "TR_TEST_SECRET"} if source == "env" else {"file": str(secret_file)}
    config = _config(tmp_path / "svc.yaml", emulator, reference)
    env = {**cli_home, "TR_TEST_SECRET": SECRET}
    done = _token(config, env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert _token(config, env).stdout.strip() == token  # served warm
    assert emulator.request_count == 1
    if source == "env":
        env["TR_TEST_SECRET"] = WRONG
    else:
        secret_file.write_text(WRONG + "\n")
    refused = _token(config, env)
    assert refused.returncode != 0
    assert token not in refused.stdout
    assert emulator.request_count == 2


def test_a_command_secret_is_verified_again_after_the_interval(
    emulator: TokenEmulator, cli_home: dict[str, str], tmp_path: Path
) -> None:
    """F2 on the warm path: a {command:} secret is trusted for a bounded interval only."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    command = [sys.executable, "-c", f"print(open({str(secret_file)!r}).read().strip())"]
    config = _config(tmp_path / "svc.yaml", emulator, {"command": command})
    done = _token(config, cli_home)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    secret_file.write_text(WRONG + "\n")
    # Within the interval the warm path trusts the last verification (documented)...
    assert _token(config, cli_home).stdout.strip() == token
    assert emulator.request_count == 1
    # ...and once it is over, the command runs again and the changed secret is refused.
    snapshots = list((Path(cli_home["XDG_CACHE_HOME"]) / "tokenrack" / "cli").glob("*.json"))
    assert len(snapshots) == 1
    document = json.loads(snapshots[0].read_text())
    for entry in document["profiles"].values():
        entry["verified_at"] = entry.get("verified_at", 0) - 3600
    snapshots[0].write_text(json.dumps(document))
    refused = _token(config, cli_home)
    assert refused.returncode != 0
    assert token not in refused.stdout
    assert emulator.request_count == 2
