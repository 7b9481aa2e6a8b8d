"""What a fresh process imports to get its first token (issue 15).

Each test runs real processes: ``import tokenrack; tokenrack.get_token(name)`` with a
config file, against the emulator over loopback, and lists the modules loaded after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import without_coverage
from tokenrack.testing import TokenEmulator

LIST_MODULES = "import sys, json; print(json.dumps(sorted(sys.modules)))"

FIRST_TOKEN = f"""\
import tokenrack
assert tokenrack.get_token("billing").access_token
{LIST_MODULES}
"""

IMPORT_REGISTRY = f"""\
import tokenrack
from tokenrack.core import registry
{LIST_MODULES}
"""

# What a generic client_secret profile does not use: signing, sealing, Redis, telemetry.
NEVER = ("cryptography", "jwt", "redis", "opentelemetry", "httpx", "aiohttp", "pytest")


# Loaded only when a profile uses them: a {command: …} secret (its runner, subprocess,
# signal), a Redis cache (its topology parser), any shared cache (the shared layer, its
# record format and breaker), a file cache's lock (fcntl), grant: token_exchange (RFC 8693),
# JWT signing (DPoP, jwt_bearer, private_key_jwt …).
NOT_FOR_A_PLAIN_PROFILE = (
    "tokenrack.auth.signing",
    "tokenrack.auth.dpop",
    "tokenrack.secret.command",
    "subprocess",
    "signal",
    "fcntl",
    "tokenrack.cache.redis_topology",
    "tokenrack.core.shared",
    "tokenrack.cache.record",
    "tokenrack.cache.guard",
    "tokenrack.oauth.token_exchange",
)


@pytest.fixture
def first_token(tmp_path: Path) -> Iterator[Callable[..., set[str]]]:
    emulator = TokenEmulator()
    emulator.start()
    config = tmp_path / "tokenrack.yaml"
    config.write_text(
        "version: 1\nprofiles:\n  billing:\n    provider: generic\n"
        f"    token_url: {emulator.token_url}\n    client_id: test-client\n"
        "    client_secret: {env: COLD_TEST_SECRET}\n"
    )
    env = without_coverage()
    env.update(
        TOKENRACK_CONFIG=str(config),
        COLD_TEST_SECRET="test-secret",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    env.pop("TOKENRACK_VALIDATION_RECORD", None)
    env.pop("TOKENRACK_OTEL", None)

    def run(code: str = FIRST_TOKEN) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return set(json.loads(done.stdout))

    yield run
    emulator.stop()


def test_the_second_start_with_an_unchanged_config_never_imports_jsonschema(
    first_token: Callable[..., set[str]],
) -> None:
    run = first_token
    assert "jsonschema" in run()
    assert "jsonschema" not in run()


def test_the_first_token_imports_nothing_the_profile_does_not_use(
    first_token: Callable[..., set[str]],
) -> None:
    run = first_token
    for _ in range(2):  # the record cold, then warm
        loaded = run()
        assert sorted(loaded & set(NEVER)) == []


def test_a_plain_profile_first_token_loads_no_command_runner_redis_or_shared_layer(
    first_token: Callable[..., set[str]],
) -> None:
    for _ in range(2):  # the validation record cold, then warm
        loaded = first_token(FIRST_TOKEN)
        assert "tokenrack.core.registry" in loaded  # the listing is of a real first token
        assert sorted(loaded & set(NOT_FOR_A_PLAIN_PROFILE)) == []


def test_importing_the_registry_loads_no_date_parser(
    first_token: Callable[..., set[str]],
) -> None:
    # email.utils parses a Retry-After or Date header, which a first token rarely reads
    # (the HTTP client loads it later for its own use).
    loaded = first_token(IMPORT_REGISTRY)
    assert "tokenrack.oauth.response" in loaded
    assert "email.utils" not in loaded
