"""The error tracker as attacker: what a traceback's frames and an error's text can carry.

Issue 10 §3 (security review F4, F7, F8, F20). An error tracker (Sentry, an APM, ``pytest
--showlocals``, rich's ``show_locals``) records every local of every frame of a traceback; a
hostile token server echoes the secret it was sent in whatever encoding gets past a naive
scrubber, or sends an error text built to make redaction take minutes. Each test plays one
of these against tokenrack's real fetch path (the emulator as the hostile server, real
subprocesses for the CLI and for the slow-redaction check) and looks for the secret, the
base64 of the Basic credentials, the PEM body and the client assertion in every form.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, LeakGuard, canary_client, profile
from tests.keys import private_pem
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, TokenrackError
from tokenrack.testing import Fault, TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
SECRET_ENV = "TRACKER_CANARY_SECRET"
PEM = private_pem("p256")
# A line from the middle of the key's base64 body: any piece of the PEM gives this away.
PEM_BODY = PEM.splitlines()[2]

_RFC_PAIR = f"{quote(CLIENT_ID, safe='')}:{quote(SECRET, safe='')}".encode()
_RAW_PAIR = f"{CLIENT_ID}:{SECRET}".encode()
BASIC_RFC = base64.b64encode(_RFC_PAIR).decode()
BASIC_RAW = base64.b64encode(_RAW_PAIR).decode()

# Every form of the secret a tracker or a hostile server could show; matched ignoring case.
FORMS = {
    "raw": SECRET,
    "marker": "CANARYSECRET",
    "quote": quote(SECRET, safe=""),
    "quote_plus": quote_plus(SECRET),
    "json": json.dumps(SECRET)[1:-1],
    "hex": SECRET.encode().hex(),
    "basic rfc6749": BASIC_RFC.rstrip("="),
    "basic raw": BASIC_RAW.rstrip("="),
    "pem body": PEM_BODY,
}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def leaks(text: str) -> list[str]:
    """The names of the secret forms (and PEM, assertion) found in ``text``."""
    lowered = text.lower()
    found = [name for name, form in FORMS.items() if form.lower() in lowered]
    if JWT.search(text):
        found.append("client assertion (JWT)")
    return found


# -- what error trackers record ------------------------------------------------------------


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything chained to it, suppressed context included."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def _shown(value: Any, depth: int = 0) -> list[str]:
    """What a Sentry-style serializer records of a local: its repr, and its items' reprs."""
    try:
        texts = [repr(value), str(value)]
    except Exception as error:  # a broken repr is recorded as such
        return [f"<repr failed: {type(error).__name__}>"]
    if depth >= 3:
        return texts
    if isinstance(value, dict):
        for key, item in list(value.items())[:200]:
            texts += _shown(key, depth + 1) + _shown(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value)[:200]:
            texts += _shown(item, depth + 1)
    return texts


def tracker_views(error: BaseException) -> dict[str, str]:
    """What trackers record of ``error``: stdlib ``capture_locals`` and a frame walker."""
    formatted = "".join(
        traceback.TracebackException(
            type(error), error, error.__traceback__, capture_locals=True
        ).format()
    )
    walked: list[str] = []
    for link in _chain(error):
        tb = link.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                walked += [f"{frame.f_code.co_name}.{name}", *_shown(value)]
            tb = tb.tb_next
    return {"capture_locals": formatted, "frame walker": "\n".join(walked)}


def failure(call: Callable[[], object]) -> TokenrackError:
    """The TokenrackError ``call`` raises; this frame and the caller's hold no secret."""
    try:
        call()
    except TokenrackError as error:
        return error
    raise AssertionError("no TokenrackError was raised")


def assert_clean(error: BaseException) -> None:
    """No tracker view of ``error`` and no text of it shows any form of the secret."""
    views = tracker_views(error)
    views["str/repr"] = f"{error!s} {error!r} {vars(error)!r}"
    found = {name: leaks(text) for name, text in views.items() if leaks(text)}
    assert not found, found
    assert "tokenrack" in views["capture_locals"]  # the library's frames were rendered


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The secret as a reference: no frame of the test's own holds it."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return {"env": SECRET_ENV}


@pytest.fixture
def build(make_registry: Callable[..., Registry]) -> Callable[..., Registry]:
    def registry(**options: Any) -> Registry:
        return make_registry({"a": options})

    return registry


def generic(url: str, secret: object, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": url,
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "retries": {"attempts": 2, "backoff": 0.01, "max_backoff": 0.02},
        **options,
    }


# -- F4: frame locals on every failure path --------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_refused_fetch_keeps_secret_out_of_frame_locals(
    method: str,
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    secret_env: dict[str, str],
) -> None:
    """F4: an invalid_client refusal, rendered with every frame's locals, shows no secret
    (today: ``known_secrets`` in FetchSettings' repr and ``secrets`` in ``exchange``)."""
    emulator.fail_next(Fault.http(401, {"error": "invalid_client"}))
    registry = build(**generic(emulator.token_url, secret_env, auth_method=method))
    assert_clean(failure(lambda: registry.get_token("a")))


@pytest.mark.parametrize("fault", ["refused", "503"])
def test_unavailable_endpoint_keeps_secret_out_of_frame_locals(
    fault: str,
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    secret_env: dict[str, str],
) -> None:
    """F4: connection refused, or 503 on every attempt: no secret in any frame's locals."""
    if fault == "refused":
        url = "http://127.0.0.1:9/oauth/token"  # the discard port: nothing listens
    else:
        url = emulator.token_url
        emulator.fail_next(*[Fault.http(503, {"error": "temporarily_unavailable"})] * 2)
    registry = build(**generic(url, secret_env, auth_method="client_secret_basic"))
    assert_clean(failure(lambda: registry.get_token("a")))


def test_malformed_answer_keeps_secret_out_of_frame_locals(
    emulator: TokenEmulator, build: Callable[..., Registry], secret_env: dict[str, str]
) -> None:
    """F4/F7: a malformed answer that echoes the Basic credentials: not in any frame's
    locals (the frames that parsed the answer are not on the error's traceback)."""
    emulator.fail_next(Fault.raw(f'{{"echo": "{BASIC_RFC}", "access_tok'.encode()))
    registry = build(**generic(emulator.token_url, secret_env))
    assert_clean(failure(lambda: registry.get_token("a")))


def test_deadline_exceeded_keeps_secret_out_of_frame_locals(
    emulator: TokenEmulator, build: Callable[..., Registry], secret_env: dict[str, str]
) -> None:
    """F4: a fetch cut off by its deadline: no secret in any frame's locals."""
    emulator.fail_next(Fault.hang(5))
    options = generic(emulator.token_url, secret_env, auth_method="client_secret_basic")
    options["retries"] = {"attempts": 1}
    options["deadline"] = 0.3
    registry = build(**options)
    assert_clean(failure(lambda: registry.get_token("a")))


def test_signing_failure_keeps_pem_out_of_frame_locals(
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """F4: private_key_jwt with a key that does not fit signing_alg: the PEM body is in no
    frame's locals (today: ``material`` in ``_signing``), nor in anything chained."""
    monkeypatch.setenv("TRACKER_KEY", PEM)
    registry = build(
        provider="generic",
        token_url=emulator.token_url,
        client_id=CLIENT_ID,
        auth_method="private_key_jwt",
        private_key={"env": "TRACKER_KEY"},
        signing_alg="RS256",
    )
    error = failure(lambda: registry.get_token("a"))
    assert "does not fit" in str(error)
    assert_clean(error)


def test_bad_key_file_keeps_key_material_out_of_frame_locals(
    tmp_path: Path, emulator: TokenEmulator, build: Callable[..., Registry]
) -> None:
    """F4: a key file whose PEM is damaged: no line of it in any frame's locals."""
    lines = PEM.splitlines()
    damaged = "\n".join([*lines[:-2], lines[-2][:-6] + "!!!!!!", lines[-1]]) + "\n"
    key_file = tmp_path / "key.pem"
    key_file.write_text(damaged)
    registry = build(
        provider="generic",
        token_url=emulator.token_url,
        client_id=CLIENT_ID,
        auth_method="private_key_jwt",
        private_key=str(key_file),
    )
    error = failure(lambda: registry.get_token("a"))
    assert "private_key" in str(error)
    assert_clean(error)


def test_client_secret_jwt_signing_failure_keeps_secret_out_of_chained_frames(
    emulator: TokenEmulator, build: Callable[..., Registry], secret_env: dict[str, str]
) -> None:
    """F4: client_secret_jwt with an algorithm HMAC cannot use: the secret the key was to be
    made of is in no frame, chained ones included."""
    registry = build(
        **generic(emulator.token_url, secret_env, auth_method="client_secret_jwt"),
    )
    runtime = registry.runtime("a")
    method = runtime.method("client_secret_jwt")
    from tokenrack.auth.methods import ClientCredentials

    client = ClientCredentials(
        "a",
        CLIENT_ID,
        runtime.secrets()["client_secret"],
        {**runtime.config.options, "signing_alg": "RS256"},
    )
    request = runtime.provider.build_token_request()
    error = failure(lambda: method.authenticate(request, client))
    assert_clean(error)


def test_refused_private_key_jwt_keeps_assertion_out_of_frame_locals(
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """F4: a refused private_key_jwt fetch: the signed client assertion it sent is in no
    frame's locals."""
    monkeypatch.setenv("TRACKER_KEY", PEM)
    emulator.fail_next(Fault.http(401, {"error": "invalid_client"}))
    registry = build(
        provider="generic",
        token_url=emulator.token_url,
        client_id=CLIENT_ID,
        auth_method="private_key_jwt",
        private_key={"env": "TRACKER_KEY"},
        retries={"attempts": 1},
    )
    error = failure(lambda: registry.get_token("a"))
    assertion = dict(emulator.requests[-1].form)["client_assertion"]
    assert JWT.match(assertion)
    assert_clean(error)
    assert assertion not in tracker_views(error)["frame walker"]


def test_command_failure_keeps_its_output_out_of_frame_locals(
    emulator: TokenEmulator, build: Callable[..., Registry], secret_env: dict[str, str]
) -> None:
    """F4: a ``{command:}`` that prints the secret and then fails: its output is in no
    frame's locals (today: the CompletedProcess in ``resolve``)."""
    script = "import os, sys; print(os.environ[sys.argv[1]]); sys.exit(3)"
    command = {"command": {"run": [sys.executable, "-c", script, SECRET_ENV], "env": [SECRET_ENV]}}
    registry = build(**generic(emulator.token_url, command))
    error = failure(lambda: registry.get_token("a"))
    assert "status 3" in str(error)
    assert_clean(error)


# -- F7: encoded echoes from a hostile server -------------------------------------------------

ECHOES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "raw": ("client_secret_post", lambda: {"error_description": f"bad secret {SECRET}"}),
    "quote": ("client_secret_post", lambda: {"error_description": f"got {quote(SECRET)}"}),
    "quote safe=''": (
        "client_secret_post",
        lambda: {"error_description": f"got {quote(SECRET, safe='')}"},
    ),
    "quote_plus": ("client_secret_post", lambda: {"error_description": quote_plus(SECRET)}),
    "basic base64 rfc6749": (
        "client_secret_basic",
        lambda: {"error_description": f"bad credentials {BASIC_RFC}"},
    ),
    "basic base64 unpadded": (
        "client_secret_basic",
        lambda: {"error_description": f"bad credentials {BASIC_RFC.rstrip('=')}."},
    ),
    "basic base64 raw": (
        "client_secret_basic:raw",
        lambda: {"error_description": f"bad credentials {BASIC_RAW}"},
    ),
    "json escaped": (
        "client_secret_post",
        lambda: {"error_description": "got " + json.dumps(SECRET)[1:-1]},
    ),
    "error_uri": (
        "client_secret_post",
        lambda: {"error_uri": f"https://idp.example/help?c={quote_plus(SECRET)}"},
    ),
    "json key": ("client_secret_post", lambda: {SECRET: "unexpected parameter"}),
    "hex upper": (
        "client_secret_post",
        lambda: {"error_description": "got " + SECRET.encode().hex().upper()},
    ),
    "case changed": ("client_secret_post", lambda: {"error_description": SECRET.upper()}),
}


@pytest.mark.parametrize("encoding", list(ECHOES))
def test_hostile_server_echo_is_masked(
    encoding: str,
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    secret_env: dict[str, str],
    leak_guard: LeakGuard,
) -> None:
    """F7/F20: a server echoing the secret (one encoding per case) in its refusal: masked in
    str(exc), repr(exc), exc.details (keys too), the DEBUG log, and every frame's locals."""
    method, body = ECHOES[encoding]
    method, _, basic_encoding = method.partition(":")
    extra = {"basic_encoding": basic_encoding} if basic_encoding else {}
    emulator.fail_next(Fault.http(401, {"error": "invalid_client", **body()}))
    registry = build(**generic(emulator.token_url, secret_env, auth_method=method, **extra))
    error = failure(lambda: registry.get_token("a"))
    assert error.__class__.__name__ == "InvalidClientError"
    details = getattr(error, "details", {})
    assert not leaks(json.dumps(details, ensure_ascii=False)), details
    assert not leaks("\n".join(leak_guard.lines)), [
        line for line in leak_guard.lines if leaks(line)
    ]
    assert "***" in str(error)
    assert_clean(error)


def test_cli_stderr_masks_base64_basic_echo(tmp_path: Path) -> None:
    """F7: ``tokenrack token`` against a server echoing the base64 of the Basic credentials:
    the CLI's stderr shows neither the base64 (padded or not) nor the secret."""
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as emulator:
        emulator.fail_next(
            *[Fault.http(401, {"error": "invalid_client", "error_description": f"bad {BASIC_RFC}"})]
            * 2
        )
        config = tmp_path / "tokenrack.yaml"
        options = generic(emulator.token_url, {"env": SECRET_ENV})
        config.write_text(yaml.safe_dump({"version": 1, "profiles": {"echo": options}}))
        environment = {**os.environ, SECRET_ENV: SECRET, "XDG_CACHE_HOME": str(tmp_path)}
        done = subprocess.run(
            [TOKENRACK, "--config", str(config), "-vv", "token", "echo"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert "invalid_client" in done.stderr
    assert not leaks(done.stderr), done.stderr


# -- F8: linear-time redaction ----------------------------------------------------------------

_SLOW_FETCH = textwrap.dedent(
    """
    import sys
    from tokenrack.core.registry import Registry
    from tokenrack.errors import TokenRequestError
    registry = Registry.from_dict({"version": 1, "profiles": {"a": {
        "provider": "generic", "token_url": sys.argv[1], "client_id": "c",
        "client_secret": "s", "retries": {"attempts": 1}}}})
    try:
        registry.get_token("a")
    except TokenRequestError as error:
        print(len(error.error_description or ""), len(str(error)))
    """
)


@pytest.mark.parametrize("shape", ["letters", "token words", "quoted token words"])
def test_megabyte_error_description_is_redacted_without_freezing(
    shape: str, emulator: TokenEmulator
) -> None:
    """F8: a 1 MiB error_description built for the quadratic patterns (today about 20 min
    of held GIL): the fetch finishes (in a child process given 30 s) and quotes a few KiB."""
    size = 1_000_000
    text = {
        "letters": "a" * size,
        "token words": "token" * (size // 5),
        "quoted token words": '"' + "token" * (size // 5),
    }[shape]
    emulator.fail_next(Fault.http(400, {"error": "invalid_request", "error_description": text}))
    done = subprocess.run(
        [sys.executable, "-c", _SLOW_FETCH, emulator.token_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    description_length, message_length = map(int, done.stdout.split())
    assert description_length <= 4096 and message_length <= 8192


# -- F20: unknown answer fields ----------------------------------------------------------------


def test_credential_like_answer_fields_are_not_kept(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    """F20: fields a token answer carries beyond the standard ones and whose names say they
    are credentials (session_key, signature, *secret*, *password*, other tokens) are not
    kept in token.extra, so neither cached nor printed; other fields are kept."""
    emulator.extra_response.update(
        {
            "session_key": "CANARYSECRET-session",
            "signature": "CANARYSECRET-sig",
            "client_secret": "CANARYSECRET-echo",
            "userPassword": "CANARYSECRET-pw",
            "sessionToken": "CANARYSECRET-st",
            "instance_url": "https://instance.example",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
    )
    token = make_registry({"a": profile(emulator)}).get_token("a")
    assert dict(token.extra) == {
        "instance_url": "https://instance.example",
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }


def test_logging_of_failures_at_debug_shows_no_encoded_secret(
    emulator: TokenEmulator,
    build: Callable[..., Registry],
    secret_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F7: the log lines of a fetch whose every attempt is refused with an echo of the Basic
    credentials (logged with exc_info by a caller) show no form of the secret."""
    caplog.set_level(logging.DEBUG)
    emulator.fail_next(
        Fault.http(401, {"error": "invalid_client", "error_description": f"{BASIC_RFC}"})
    )
    registry = build(**generic(emulator.token_url, secret_env, auth_method="client_secret_basic"))
    error = failure(lambda: registry.get_token("a"))
    logging.getLogger("app").error("fetch failed", exc_info=error)
    assert not leaks(caplog.text), caplog.text


def test_config_error_at_load_keeps_the_document_and_environment_out_of_frame_locals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F4 at load: a ConfigError from Registry.from_file carries no frame that holds the
    document (an inline secret in it) or the environment (``os.environ``'s repr prints every
    variable, an ``{env:}`` secret's included)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = tmp_path / "tokenrack.yaml"
    config.write_text(
        "version: 1\n"
        "profiles:\n"
        "  inline:\n"
        "    provider: generic\n"
        "    token_url: https://idp.example/token\n"
        f"    client_id: {CLIENT_ID}\n"
        f"    client_secret: {SECRET}\n"
        # A file-level problem (issue 11: a profile's own is raised at its use).
        "defaults:\n"
        "  no_such_key: 1\n"
    )
    config.chmod(0o600)
    error = failure(lambda: Registry.from_file(str(config)))
    assert isinstance(error, ConfigError)
    views = tracker_views(error)
    found = {name: leaks(text) for name, text in views.items() if leaks(text)}
    assert not found, found
    assert "from_file" in views["capture_locals"]  # the loader's frame was rendered
