"""No secret or token in any log line, error message or repr, at DEBUG, on every path.

The autouse guard in conftest.py checks every test of the suite this way; this module
drives the paths where a leak is most likely (servers echoing what they were sent, broken
answers carrying the token, failures of every kind) and inspects everything it can reach.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CANARIES, SECRET, TOKEN_MARK, LeakGuard, find_canaries, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import TokenrackError
from tokenrack.testing import Fault, TokenEmulator

ECHOES = [
    Fault.http(
        400, {"error": "invalid_request", "error_description": f"you sent {SECRET}", "echo": SECRET}
    ),
    Fault.http(401, {"error": "invalid_client", "error_description": f"secret {SECRET} rejected"}),
    Fault.raw(f'{{"access_token": "{TOKEN_MARK}-abc", "expires_in": 36'.encode()),
    Fault.raw(f"<html>{SECRET} {TOKEN_MARK}-abc</html>".encode(), content_type="text/html"),
    Fault.raw(f"access_token={TOKEN_MARK}-abc&token_type=".encode(), content_type="text/plain"),
    Fault.raw(json.dumps({"access_token": f"{TOKEN_MARK}-x", "expires_in": "soon"}).encode()),
    Fault.raw(json.dumps({"access_token": f"{TOKEN_MARK}-x", "expires_in": -1}).encode()),
    Fault.raw(json.dumps([f"{TOKEN_MARK}-x"]).encode()),
    Fault.http(503, {"error": "temporarily_unavailable", "error_description": SECRET}),
]


@pytest.mark.parametrize("fault", ECHOES, ids=lambda f: f"{f.status}-{f.body[:30]!r}")
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_errors_never_echo_secrets_or_tokens(
    fault: Fault,
    method: str,
    emulator: TokenEmulator,
    make_registry: Callable[..., Registry],
    leak_guard: LeakGuard,
) -> None:
    emulator.fail_next(*[fault] * 3)
    registry = make_registry({"a": profile(emulator, auth_method=method)})
    with pytest.raises(TokenrackError) as caught:
        registry.get_token("a")
    error = caught.value
    texts = [str(error), repr(error), repr(vars(error))]
    assert not find_canaries(texts), texts
    assert leak_guard.lines  # DEBUG logging really was on


def test_success_path_reprs_and_logs(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], leak_guard: LeakGuard
) -> None:
    registry = make_registry({"a": profile(emulator, scopes=["x"])})
    token = registry.get_token("a")
    assert token.access_token.startswith(TOKEN_MARK)
    runtime = registry.runtime("a")
    from tokenrack.auth.methods import ClientCredentials

    secrets = runtime.secrets()
    client = ClientCredentials("a", "c", secrets["client_secret"], runtime.config.options)
    method = runtime.plan(runtime.endpoint())[0]
    client_request = runtime.method(method).authenticate(
        runtime.provider.build_token_request(), client
    )
    objects: list[Any] = [
        token,
        registry,
        runtime,
        runtime.provider,
        runtime.config,
        registry.cached("a"),
        client_request,
        client_request.encode(),
        runtime.secrets(),
        runtime.cache_key_parts,
        runtime.cache_key,
    ]
    texts = [repr(o) for o in objects] + [str(o) for o in objects]
    assert not find_canaries(texts), find_canaries(texts)
    assert any("got token for profile a" in line for line in leak_guard.lines)


def test_retries_and_resets_at_debug(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], leak_guard: LeakGuard
) -> None:
    emulator.fail_next(
        Fault.reset(), Fault.http(502), Fault.http(429, headers={"Retry-After": "0"})
    )
    registry = make_registry({"a": profile(emulator, retries={"attempts": 4, "backoff": 0.01})})
    registry.get_token("a")
    assert any("attempt 2 of 4 failed" in line for line in leak_guard.lines)
    assert not find_canaries(leak_guard.lines)


def test_the_guard_itself_catches_a_leak() -> None:
    guard = LeakGuard()
    logger = logging.getLogger("tokenrack.test-guard")
    logger.propagate = False  # keep the deliberate leak away from the suite-wide guard
    logger.setLevel(logging.DEBUG)
    logger.addHandler(guard)
    try:
        logger.debug("careless %s", SECRET)
    finally:
        logger.removeHandler(guard)
    assert find_canaries(guard.lines) == [f"tokenrack.test-guard: careless {SECRET}"]
    assert all(canary for canary in CANARIES)
