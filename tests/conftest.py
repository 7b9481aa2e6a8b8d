"""Shared fixtures, and the suite-wide guard that no secret or token ever leaks.

Every test runs with the root logger at DEBUG, capturing every record (tokenrack's, and
urllib3's and requests' too). Every TokenrackError created during the test is remembered.
After the test, no captured log line and no error message or repr may contain a canary:
the client secret (:data:`SECRET`) or an issued token (:data:`TOKEN_MARK`). Tests use those
canaries by default, so the whole suite's scenarios prove the no-leak promise.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings

import tokenrack.errors
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.testing import EmulatorClient, TokenEmulator

# Property tests and fuzzers: bounded in `make test`; `HYPOTHESIS_PROFILE=long` runs more.
settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

CLIENT_ID = "canary-client"
# Characters that break naive Basic encoding and regexes: : + / % & = space, non-ASCII.
SECRET = "s3cr3t-CANARYSECRET:+/%&= ü"
TOKEN_MARK = "CANARYTOKEN"
CANARIES = (SECRET, "CANARYSECRET", TOKEN_MARK)
# What a tracker or a hostile server's echo may show instead (issue 10, F7): the base64 of
# the Basic credentials in both encodings (unpadded: a prefix of the padded form too), and
# the secret in hex; found ignoring case.
ENCODED_CANARIES = tuple(
    form.lower()
    for form in (
        base64.b64encode(f"{quote(CLIENT_ID, safe='')}:{quote(SECRET, safe='')}".encode())
        .decode()
        .rstrip("="),
        base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode().rstrip("="),
        SECRET.encode().hex(),
    )
)
_LIBRARY = str(Path(tokenrack.errors.__file__).parent)
_TEST_KIT = str(Path(tokenrack.errors.__file__).parent / "testing")
_CONFIG = str(Path(tokenrack.errors.__file__).parent / "config")
_REGISTRY = str(Path(tokenrack.errors.__file__).parent / "core" / "registry.py")
_LOADERS = frozenset({"from_dict"})  # its `data` is the caller's own dict


class LeakGuard(logging.Handler):
    """Collects every log record so the test's teardown can look for canaries."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is itself a bug worth seeing
            text = f"{record.msg!r} % {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += " | " + repr(record.exc_info[1]) + " " + str(record.exc_info[1])
        with self._lock_lines:
            self.lines.append(f"{record.name}: {text}")


def find_canaries(texts: list[str]) -> list[str]:
    """The texts that contain a canary."""
    return [
        t
        for t in texts
        if any(c in t for c in CANARIES) or any(c in t.lower() for c in ENCODED_CANARIES)
    ]


@pytest.fixture(autouse=True, scope="session")
def private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes to the user's real cache directory (file caches, CLI snapshots)."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache-home"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(autouse=True)
def leak_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeakGuard]:
    """Fail any test that lets a canary into a log record or an error's text."""
    guard = LeakGuard()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(guard)
    root.setLevel(logging.DEBUG)
    errors: list[BaseException] = []
    original = tokenrack.errors.TokenrackError.__init__

    def recording_init(self: BaseException, *args: Any, **kwargs: Any) -> None:
        errors.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tokenrack.errors.TokenrackError, "__init__", recording_init)
    try:
        yield guard
    finally:
        root.removeHandler(guard)
        root.setLevel(previous)
    leaked = find_canaries(guard.lines)
    leaked += find_canaries([f"{e!s} {e!r}" for e in errors])
    leaked += find_canaries([library_frames_with_locals(e) for e in errors])
    assert not leaked, f"a secret or token leaked: {leaked[:3]}"


def _library_frame(frame: traceback.FrameSummary) -> bool:
    # The test's own frames (and the emulator's) hold the canaries on purpose. Loading a
    # config holds what the caller wrote (a literal secret in a test's dict): not counted.
    filename = frame.filename
    if filename.startswith(_CONFIG) or (filename == _REGISTRY and frame.name in _LOADERS):
        return False
    return filename.startswith(_LIBRARY) and not filename.startswith(_TEST_KIT)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def _library_frames(error: BaseException) -> Iterator[tuple[FrameType, int]]:
    for link in _chain(error):
        for frame, lineno in traceback.walk_tb(link.__traceback__):
            code = frame.f_code
            if _library_frame(traceback.FrameSummary(code.co_filename, lineno, code.co_name)):
                yield frame, lineno


def library_frames_with_locals(error: BaseException) -> str:
    """``error``'s traceback as an error tracker records it: tokenrack's frames with locals.

    Rendered with ``capture_locals=True`` (the stack summary ``TracebackException`` builds),
    as Sentry-like tools do, for the error and everything chained to it. Only frames in the
    library are rendered: a test's own frames hold the canaries it set up, and the config
    loader's hold the document as given (a YAML bomb's would not fit in memory as text).
    """
    frames = list(_library_frames(error))
    try:
        stack = traceback.StackSummary.extract(iter(frames), capture_locals=True)
    except Exception:  # a local whose repr raises: record what can be recorded
        return "\n".join(
            f"{frame.f_code.co_name}.{name}={_safe_repr(value)}"
            for frame, _ in frames
            for name, value in frame.f_locals.items()
        )
    return "\n".join(f"{f.filename}:{f.lineno} {f.name} {f.locals}" for f in stack)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return "<repr failed>"


def without_coverage(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process whose imports a test counts.

    Under `make test`, coverage measures the CLI's subprocesses (``patch = ["subprocess"]``)
    and so starts in every child, importing typing, dataclasses and random itself; a test
    of what tokenrack imports must not count coverage's own imports.
    """
    env = dict(os.environ if environ is None else environ)
    for name in ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START"):
        env.pop(name, None)
    return env


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self._monotonic = 10_000.0
        self._wall = 1_800_000_000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def time(self) -> float:
        with self._lock:
            return self._wall

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._monotonic += seconds
            self._wall += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def canary_client(**changes: Any) -> EmulatorClient:
    """The emulator client whose secret is the canary."""
    return EmulatorClient(CLIENT_ID, SECRET, **changes)


@pytest.fixture
def emulator() -> Iterator[TokenEmulator]:
    """A running emulator that accepts the canary client and issues canary tokens."""
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as running:
        yield running


def profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    """A generic profile for the canary client against ``emulator``."""
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "retries": {"attempts": 3, "backoff": 0.01, "max_backoff": 0.05},
        **options,
    }


@pytest.fixture
def make_registry() -> Iterator[Callable[..., Registry]]:
    """Build registries from profile dicts; every one is closed after the test."""
    made: list[Registry] = []

    def build(profiles: Mapping[str, Any], **kwargs: Any) -> Registry:
        defaults = kwargs.pop("defaults", None)
        data: dict[str, Any] = {"version": 1, "profiles": dict(profiles)}
        if defaults is not None:
            data["defaults"] = defaults
        registry = Registry.from_dict(data, **kwargs)
        made.append(registry)
        # A profile's own problems no longer stop loading (issue 11); tests of a profile's
        # validation see them here, as its first use would raise them.
        for problem in registry.problems().values():
            if isinstance(problem, ConfigError):
                raise problem
        return registry

    yield build
    for registry in made:
        registry.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for background work to reach a state (a bound on waiting, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


# -- Redis ---------------------------------------------------------------------------------

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"


def redis_answers(port: int = REDIS_PORT) -> bool:
    """Whether a Redis server answers PING on 127.0.0.1:``port``."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def start_redis_server(port: int, *, daemonize: bool) -> subprocess.Popen[bytes] | None:
    """Start redis-server on 127.0.0.1:``port``, keeping nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    if daemonize:
        subprocess.run([*argv, "--daemonize", "yes"], check=False, capture_output=True)
        return None
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis on 127.0.0.1:6379, started if it is down.

    Outside CI a machine without Redis skips these tests; with CI=true that is a failure.
    """
    try:
        import redis  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra installs it
        why = "the redis package is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    if not redis_answers():
        start_redis_server(REDIS_PORT, daemonize=True)
        deadline = time.monotonic() + 10
        while not redis_answers() and time.monotonic() < deadline:
            time.sleep(0.1)
    if not redis_answers():
        why = f"no Redis on 127.0.0.1:{REDIS_PORT}, and redis-server could not be started"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys (and only those) are deleted afterwards."""
    import redis

    prefix = f"tokenrack-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for name in client.scan_iter(match=prefix + "*"):
            client.delete(name)
    finally:
        client.close()
