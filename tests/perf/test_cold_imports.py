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

FIRST_TOKEN = """\
import sys, json, tokenrack
token = tokenrack.get_token("billing")
assert token.access_token
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

# What a generic client_secret profile does not use: signing, sealing, Redis, telemetry.
NEVER = ("cryptography", "jwt", "redis", "opentelemetry", "httpx", "aiohttp", "pytest")


@pytest.fixture
def first_token(tmp_path: Path) -> Iterator[Callable[[], set[str]]]:
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

    def run() -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", FIRST_TOKEN],
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
    first_token: Callable[[], set[str]],
) -> None:
    run = first_token
    assert "jsonschema" in run()
    assert "jsonschema" not in run()


def test_the_first_token_imports_nothing_the_profile_does_not_use(
    first_token: Callable[[], set[str]],
) -> None:
    run = first_token
    for _ in range(2):  # the record cold, then warm
        loaded = run()
        assert sorted(loaded & set(NEVER)) == []
