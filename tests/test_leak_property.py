"""The no-leak promise as a property: for generated secrets and tokens, on every path.

Secrets are any printable text with regex, format and shell metacharacters; tokens are
RFC 6750 b64token strings (what a Bearer token can be). Each example runs a success, a
retry, refusals that echo the secret, and malformed answers that carry the token, at DEBUG,
and looks for either in every log record, exception message, repr, and CLI output.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import library_frames_with_locals
from tokenrack.core.registry import Registry
from tokenrack.errors import TokenrackError
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator

# Hypothesis drives the whole stack, and the console script, many times: seconds, not ms.
pytestmark = pytest.mark.slow

METACHARACTERS = ".*+?()[]{}|^$\\%s%d{0}'\"`; &=:/#@!~ \t"
secrets_st = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + METACHARACTERS + "éü€中"),
    min_size=6,
    max_size=40,
).map(lambda tail: "S" + tail)
tokens_st = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~+/", min_size=20, max_size=60
).map(lambda body: "T" + body + "==")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + str(record.exc_info[1])
        self.lines.append(text)


@pytest.fixture(scope="module")
def emulator() -> Iterator[TokenEmulator]:
    with TokenEmulator([]) as running:
        yield running


def answer(token: str, **fields: Any) -> Fault:
    return Fault.raw(json.dumps({"access_token": token, "token_type": "Bearer", **fields}).encode())


def encoded_forms(secret: str) -> list[str]:
    """How a hostile server may echo the secret (issue 10, F7): each must be masked."""
    return [
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        secret.encode().hex().upper(),
        secret.upper(),
        base64.b64encode(f"prop-client:{secret}".encode()).decode().rstrip("="),
    ]


def scenarios(secret: str, token: str) -> list[tuple[str, list[Fault]]]:
    return [
        ("success", [answer(token, expires_in=60)]),
        (
            "retry",
            [
                Fault.http(503, {"error": "temporarily_unavailable", "error_description": secret}),
                answer(token, expires_in=60),
            ],
        ),
        (
            "refused-echo",
            [
                Fault.http(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": f"bad secret {secret}",
                        "echo": secret,
                    },
                )
            ],
        ),
        (
            "400-echo",
            [
                Fault.http(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": secret,
                    },
                )
            ],
        ),
        (
            "refused-encoded-echo",
            [
                Fault.http(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": " ".join(encoded_forms(secret)),
                        "error_uri": f"https://idp.example/e?s={quote_plus(secret)}",
                        secret: "as a key",
                    },
                )
            ],
        ),
        (
            "truncated",
            [Fault.raw(json.dumps({"access_token": token, "expires_in": 60}).encode()[:-5])],
        ),
        ("html", [Fault.raw(f"<html>{token}</html>".encode(), content_type="text/html")]),
        ("array", [Fault.raw(json.dumps([token]).encode())]),
        (
            "form-broken",
            [
                Fault.raw(
                    f"access_token={token}&expires_in=x".encode(),
                    content_type="application/x-www-form-urlencoded",
                )
            ],
        ),
        ("expired", [answer(token, expires_in=-1)]),
        ("garbage-expiry", [answer(token, expires_in="soon")]),
    ]


@settings(max_examples=max(10, settings().max_examples // 4))
@given(secret=secrets_st, token=tokens_st)
def test_no_secret_or_token_anywhere(emulator: TokenEmulator, secret: str, token: str) -> None:
    os.environ["PROPERTY_SECRET"] = secret
    emulator.add_client(EmulatorClient("prop-client", secret))
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    texts: list[str] = []
    try:
        for name, faults in scenarios(secret, token):
            emulator.reset()
            emulator.fail_next(*faults)
            registry = Registry.from_dict(
                {
                    "version": 1,
                    "profiles": {
                        name: {
                            "provider": "generic",
                            "token_url": emulator.token_url,
                            "client_id": "prop-client",
                            "client_secret": {"env": "PROPERTY_SECRET"},
                            "auth_method": "client_secret_post",
                            "retries": {"attempts": 2, "backoff": 0, "max_backoff": 0},
                        }
                    },
                }
            )
            try:
                got = registry.get_token(name)
                assert got.access_token == token
                texts += [repr(got), str(got)]
            except TokenrackError as error:
                texts += [str(error), repr(error), repr(vars(error))]
                texts.append(library_frames_with_locals(error))
            texts += [
                repr(registry),
                repr(registry.runtime(name)),
                repr(registry.runtime(name).config),
            ]
            registry.close()
    finally:
        root.removeHandler(capture)
        os.environ.pop("PROPERTY_SECRET", None)
    forms = encoded_forms(secret)
    for text in texts + capture.lines:
        assert secret not in text and token not in text, text
        assert not [form for form in forms if form in text], text


@settings(max_examples=max(3, settings().max_examples // 20))
@given(secret=secrets_st, token=tokens_st)
def test_cli_at_debug_keeps_them_out_of_stderr_and_json(
    emulator: TokenEmulator, tmp_path_factory: pytest.TempPathFactory, secret: str, token: str
) -> None:
    emulator.add_client(EmulatorClient("prop-client", secret))
    config = tmp_path_factory.mktemp("cli") / "tokenrack.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "profiles": {
                    "p": {
                        "provider": "generic",
                        "token_url": emulator.token_url,
                        "client_id": "prop-client",
                        "client_secret": {"env": "PROPERTY_SECRET"},
                        "auth_method": "client_secret_basic",
                        "retries": {"attempts": 2, "backoff": 0, "max_backoff": 0},
                    }
                },
            }
        )
    )
    cli = str(Path(sys.executable).with_name("tokenrack"))
    env = {**os.environ, "PROPERTY_SECRET": secret}
    for faults, expect in (
        ([Fault.http(500), answer(token, expires_in=60, note="n")], 0),
        ([Fault.http(401, {"error": "invalid_client", "error_description": secret})], 3),
    ):
        emulator.reset()
        emulator.fail_next(*faults)
        # A file cache of its own for every call: no token crosses scenarios or examples.
        env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cli-cache"))
        done = subprocess.run(
            [cli, "-vv", "--config", str(config), "token", "p", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == expect, done.stderr
        assert secret not in done.stderr and token not in done.stderr
        for _, folders, files in os.walk(env["XDG_CACHE_HOME"]):
            for name in folders + files:  # cache file names are digests, never credentials
                assert secret not in name and token not in name
        if expect == 0:
            document = json.loads(done.stdout)
            assert document.pop("access_token") == token
            assert secret not in json.dumps(document) and token not in json.dumps(document)
