"""Refresh locks that never outlive a failure, and waits that stay within the deadline.

Issue 16, locks: a failed record write never leaves the lock held (defect 1); a stuck lock
holder costs the others a short wait, not a lease (defect 4); a refresh slower than the
lease is repeated by at most one more process (defect 5); a caller's lock wait and fetch
share its deadline (defect 6); and an outage, or a corrupt record, is logged once (defect 10).
Real processes (tests/fleet_worker.py, a child holding a flock and frozen with SIGSTOP), real
Redis and the emulator; waits are bounded generously, and outcomes and counts are asserted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock, profile
from tests.test_fleet import Worker, config_for
from tokenrack.cache.file import FileCache
from tokenrack.cache.paths import RECORD_SUFFIX, record_path
from tokenrack.cache.redis import RedisCache
from tokenrack.core.registry import Registry
from tokenrack.errors import CacheError, TokenEndpointUnavailableError
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]


def lock_path(directory: Path, key: str) -> str:
    return record_path(str(directory), key, suffix=".lock")


def flock_is_free(path: str) -> bool:
    """Whether a new descriptor gets the flock at once (flock is per open file)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock, if taken
    return True


def disk_full(self: Any, key: str, value: bytes, *, ttl: float) -> None:
    # An OSError, not the CacheError FileCache makes of it: the leak guard would find the
    # record in that error's frames (the guard swallows it; no caller or tracker sees it).
    raise OSError(errno.ENOSPC, "No space left on device")


# -- defect 1: a failed write releases the lock -------------------------------------------


def test_file_lock_is_released_when_the_record_cannot_be_written(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = {"backend": "file", "path": str(tmp_path / "cache")}
    monkeypatch.setattr(FileCache, "set", disk_full)
    registry = make_registry({"a": profile(emulator, cache=cache)})
    assert registry.get_token("a").access_token
    path = lock_path(tmp_path / "cache", registry.runtime("a").cache_key)
    # The breaker opened on the write; the lock was released all the same.
    assert flock_is_free(path)
    other = make_registry({"a": profile(emulator, cache=cache, deadline=5)})
    started = time.monotonic()
    assert other.get_token("a").access_token
    assert time.monotonic() - started < 3  # not the 15-s lease
    assert emulator.request_count == 2


def test_redis_lock_is_released_when_the_record_cannot_be_written(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    def refused(self: Any, key: str, value: bytes, *, ttl: float) -> None:
        raise OSError(errno.EACCES, "NOPERM this user has no permissions to access 'token:'")

    monkeypatch.setattr(RedisCache, "set", refused)
    cache = {"backend": "redis", "plaintext": True, "url": redis_url, "key_prefix": redis_prefix}
    registry = make_registry({"a": profile(emulator, cache=cache)})
    assert registry.get_token("a").access_token
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=redis_prefix + "lock:*")) == []
    finally:
        client.close()


# -- defect 4: a stuck holder costs a short wait -------------------------------------------


@pytest.fixture
def frozen_holder() -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start a child that takes the flock on a path, then freeze it with SIGSTOP."""
    children: list[subprocess.Popen[bytes]] = []

    def start(path: str) -> subprocess.Popen[bytes]:
        code = (
            "import fcntl, os, sys, time\n"
            f"fd = os.open({path!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        children.append(child)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"locked"
        os.kill(child.pid, signal.SIGSTOP)
        return child

    yield start
    for child in children:
        child.kill()
        os.kill(child.pid, signal.SIGCONT)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()


def test_frozen_file_lock_holder_costs_a_mandatory_window_caller_a_short_wait(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
    tmp_path: Path,
    frozen_holder: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    directory = tmp_path / "cache"
    cache = {"backend": "file", "path": str(directory)}
    registry = make_registry({"a": profile(emulator, cache=cache)}, clock=clock)
    first = registry.get_token("a")
    key = registry.runtime("a").cache_key
    os.unlink(record_path(str(directory), key, suffix=RECORD_SUFFIX))
    frozen_holder(lock_path(directory, key))
    clock.advance(3600 - 20)  # the mandatory window: 20 s of the token left
    started = time.monotonic()
    second = registry.get_token("a")
    waited = time.monotonic() - started
    # At most half the token's time left (10 s), not the 15-s lease.
    assert waited < 11
    assert second.access_token != first.access_token
    assert emulator.request_count == 2


def test_frozen_file_lock_holder_one_waiter_takes_over_after_the_lease(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    frozen_holder: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    directory = tmp_path / "cache"
    cache = {"backend": "file", "path": str(directory), "lock_lease": 0.5}
    emulator.latency = 0.2
    registries = [make_registry({"a": profile(emulator, cache=cache)}) for _ in range(3)]
    key = registries[0].runtime("a").cache_key
    directory.mkdir(mode=0o700, exist_ok=True)
    frozen_holder(lock_path(directory, key))
    tokens: list[str] = []
    callers = [
        threading.Thread(target=lambda r=registry: tokens.append(r.get_token("a").access_token))
        for registry in registries
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)
    # After the lease one waiter took the refresh over; the others read its token.
    assert len(tokens) == 3
    assert len(set(tokens)) == 1
    assert emulator.request_count == 1


def test_redis_lock_whose_set_timed_out_is_released_by_its_owner(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    cache = RedisCache({"url": redis_url, "key_prefix": redis_prefix}, secrets={})
    real_set = redis.Redis.set

    def set_then_time_out(client: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        real_set(client, *args, **kwargs)  # it ran on the server...
        raise redis.TimeoutError("Timeout reading from socket")  # ...the client gave up

    monkeypatch.setattr(redis.Redis, "set", set_then_time_out)
    with pytest.raises(CacheError):
        cache.try_lock("k", lease=15)
    monkeypatch.setattr(redis.Redis, "set", real_set)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(redis_prefix + "lock:k")
        # The next command releases it by its owner value, not the 15-s lease.
        assert cache.get("k") is None
        assert not client.exists(redis_prefix + "lock:k")
        lock = cache.try_lock("k", lease=15)
        assert lock is not None
        lock.release()
    finally:
        client.close()
        cache.close()


def test_a_lock_set_on_a_paused_redis_after_the_client_gave_up_is_released_by_its_owner(
    redis_url: str,
) -> None:
    """Defect 4 against a real server: a private redis-server is paused (SIGSTOP) while the
    lock's ``SET NX PX`` is in flight, so the client times out; resumed, the server runs the
    SET and holds a lock nobody took. The next command releases it by its owner value
    instead of leaving it for the 15-s lease."""
    import socket

    import redis

    from tests.conftest import start_redis_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = start_redis_server(port, daemonize=False)
    if server is None:
        pytest.skip("redis-server is not installed")
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    cache = RedisCache({"url": url, "timeout": 0.3, "plaintext": True}, secrets={})
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)
        assert cache.get("k") is None  # connected before the pause
        server.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(CacheError):
                cache.try_lock("k", lease=15)
        finally:
            server.send_signal(signal.SIGCONT)
        lock_key = None
        waited_until = time.monotonic() + 5
        while lock_key is None and time.monotonic() < waited_until:
            lock_key = next(iter(client.scan_iter(match="*lock:k")), None)
            time.sleep(0.02)
        assert lock_key is not None  # the SET ran once the server resumed
        assert 0 < client.pttl(lock_key) <= 15_000
        # The next command releases it by its owner value, not the 15-s lease.
        assert cache.get("k") is None
        assert not client.exists(lock_key)
        lock = cache.try_lock("k", lease=15)
        assert lock is not None
        lock.release()
    finally:
        cache.close()
        client.close()
        server.terminate()
        server.wait(10)


# -- defects 5 and 6: real processes, an endpoint that hangs ---------------------------------


def start_workers(config: dict[str, Any], n: int) -> list[Worker]:
    workers = [Worker(config) for _ in range(n)]
    for worker in workers:
        worker.wait_ready()
    for worker in workers:
        worker.go()
    return workers


@pytest.mark.slow
def test_refresh_slower_than_the_lease_is_repeated_by_at_most_one_more_process(
    emulator: TokenEmulator, tmp_path: Path
) -> None:
    cache = {"backend": "file", "path": str(tmp_path / "cache"), "lock_lease": 0.5}
    config = config_for(emulator, cache)
    config["profiles"]["a"]["deadline"] = 2
    emulator.gate.clear()  # every request hangs
    try:
        workers = start_workers(config, 4)
        results = [worker.result(timeout=10) for worker in workers]
    finally:
        emulator.gate.set()
    errors = [e for r in results for e in r["errors"]]
    assert len(errors) == 4
    assert emulator.request_count <= 2


@pytest.mark.slow
def test_lock_wait_and_fetch_share_the_deadline(emulator: TokenEmulator, tmp_path: Path) -> None:
    # The default lease (connect + read timeout, 15 s) is longer than this deadline.
    config = config_for(emulator, {"backend": "file", "path": str(tmp_path / "cache")})
    config["profiles"]["a"]["deadline"] = 2
    emulator.gate.clear()
    try:
        workers = start_workers(config, 3)
        started = time.monotonic()
        # Each process's call ends (with its error) within twice the deadline.
        results = [worker.result(timeout=4) for worker in workers]
        assert time.monotonic() - started < 4
    finally:
        emulator.gate.set()
    for result in results:
        assert result["results"] == []
        assert [e.split(":")[0] for e in result["errors"]] == ["TokenEndpointUnavailableError"]


# -- defect 10: one warning per outage, one per corrupt record ------------------------------


def test_a_cache_that_reads_but_cannot_write_warns_once(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = {"backend": "file", "path": str(tmp_path / "cache")}
    monkeypatch.setattr(FileCache, "set", disk_full)
    registry = make_registry({"a": profile(emulator, cache=cache)}, clock=clock)
    with caplog.at_level(logging.WARNING, logger="tokenrack.cache.guard"):
        for _ in range(6):
            registry.get_token("a", force_refresh=True)
            clock.advance(60)  # past every backoff of the breaker
    messages = [r.getMessage() for r in caplog.records if r.name == "tokenrack.cache.guard"]
    assert len([m for m in messages if "is unavailable" in m]) == 1
    assert [m for m in messages if "answers again after" in m] == []
    assert emulator.request_count == 6


def test_a_corrupt_record_is_logged_once_per_miss(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = tmp_path / "cache"
    cache = {"backend": "file", "path": str(directory)}
    registry = make_registry({"a": profile(emulator, cache=cache)})
    key = registry.runtime("a").cache_key
    directory.mkdir(mode=0o700, exist_ok=True)
    path = record_path(str(directory), key, suffix=RECORD_SUFFIX)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"format": 2, "truncated')
    os.close(fd)
    with caplog.at_level(logging.WARNING, logger="tokenrack.core.shared"):
        registry.get_token("a")
    unusable = [r for r in caplog.records if "is unusable" in r.getMessage()]
    assert len(unusable) == 1
    assert emulator.request_count == 1


def test_a_stuck_holder_then_an_error_stays_within_the_deadline_in_process(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    frozen_holder: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    # Cold, the holder frozen and the endpoint hanging: the caller's error comes by the
    # deadline, the lock wait included (the lease alone is 15 s).
    directory = tmp_path / "cache"
    cache = {"backend": "file", "path": str(directory)}
    registry = make_registry({"a": profile(emulator, cache=cache, deadline=2)})
    directory.mkdir(mode=0o700, exist_ok=True)
    frozen_holder(lock_path(directory, registry.runtime("a").cache_key))
    emulator.gate.clear()
    try:
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnavailableError):
            registry.get_token("a")
        assert time.monotonic() - started < 4
    finally:
        emulator.gate.set()


# -- defect 1 with a real read-only directory (root without CAP_DAC_OVERRIDE) -------------

READ_ONLY_CHILD = """
import fcntl, json, logging, os, sys
from tokenrack.core.registry import Registry

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

config = json.loads(os.environ["TOKENRACK_TEST_CONFIG"])
got = [Registry.from_dict(config).get_token("a", force_refresh=True).access_token]
fd = os.open(os.environ["TOKENRACK_TEST_LOCK"], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    free = True
except BlockingIOError:
    free = False
os.close(fd)
got.append(Registry.from_dict(config).get_token("a", force_refresh=True).access_token)
print(json.dumps({"free": free, "tokens": len(set(got))}), flush=True)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("capsh") is None, reason="needs root and capsh"
)
def test_read_only_cache_directory_leaves_the_lock_free(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    cache = {"backend": "file", "path": str(directory), "lock_lease": 3}
    config = config_for(emulator, cache)
    registry = make_registry(config["profiles"])
    registry.get_token("a")  # the record and the lock file exist
    path = lock_path(directory, registry.runtime("a").cache_key)
    directory.chmod(0o500)
    try:
        child = subprocess.run(
            [
                "capsh",
                "--drop=cap_dac_override,cap_dac_read_search",
                "--",
                "-c",
                'exec "$0" "$@"',
                sys.executable,
                "-c",
                READ_ONLY_CHILD,
            ],
            env={
                **os.environ,
                "TOKENRACK_TEST_CONFIG": json.dumps(config),
                "TOKENRACK_TEST_LOCK": path,
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        directory.chmod(0o700)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    # The write failed (read-only), and the lock was released all the same.
    assert "is unavailable" in child.stderr
    assert result == {"free": True, "tokens": 2}
    assert emulator.request_count == 3
