"""Real processes sharing one token: the file and Redis caches across a fleet.

Each process is tests/fleet_worker.py, given the emulator's URL inside its config. Counts
and states are asserted, never durations; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    TOKEN_MARK,
    canary_client,
    find_canaries,
    profile,
    redis_answers,
    start_redis_server,
    wait_until,
)
from tokenrack.core.registry import Registry
from tokenrack.testing import TokenEmulator

WORKER = Path(__file__).with_name("fleet_worker.py")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


class Worker:
    """A fleet_worker.py process, started and waiting for ``go``."""

    def __init__(self, config: dict[str, Any], *, threads: int = 1, seconds: float = 0) -> None:
        env = {
            **os.environ,
            "TOKENRACK_TEST_CONFIG": json.dumps(config),
            "TOKENRACK_TEST_THREADS": str(threads),
            "TOKENRACK_TEST_SECONDS": str(seconds),
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", self.failure()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self, timeout: float = 60) -> dict[str, Any]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        self.stderr = stderr
        assert self.process.returncode == 0, stderr[-2000:]
        assert not find_canaries(stderr.splitlines()), "a child process logged a canary"
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        return result

    def failure(self) -> str:
        self.process.kill()
        _, stderr = self.process.communicate(timeout=10)
        return stderr[-2000:]


def run_fleet(
    config: dict[str, Any], *, processes: int, threads: int, seconds: float = 0
) -> list[dict[str, Any]]:
    """Start every process, release them together, and collect what each got."""
    workers = [Worker(config, threads=threads, seconds=seconds) for _ in range(processes)]
    for worker in workers:
        worker.wait_ready()
    for worker in workers:
        worker.go()
    return [worker.result() for worker in workers]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def config_for(emulator: TokenEmulator, cache: Any) -> dict[str, Any]:
    return {"version": 1, "profiles": {"a": profile(emulator, cache=cache)}}


def assert_one_token_for_everyone(results: list[dict[str, Any]], expected_calls: int) -> str:
    calls = [r for result in results for r in result["results"]]
    errors = [e for result in results for e in result["errors"]]
    assert errors == []
    assert len(calls) == expected_calls
    assert all(call["valid"] for call in calls)
    digests = {call["digest"] for call in calls}
    assert len(digests) == 1
    return digests.pop()


@pytest.fixture
def slow_emulator(emulator: TokenEmulator) -> TokenEmulator:
    emulator.latency = 0.05
    return emulator


# -- 8 processes x 16 threads, cold ------------------------------------------------------


def test_file_cache_fleet_of_8x16_cold_makes_one_request(
    slow_emulator: TokenEmulator, tmp_path: Path
) -> None:
    config = config_for(slow_emulator, {"backend": "file", "path": str(tmp_path / "cache")})
    results = run_fleet(config, processes=8, threads=16)
    shared = assert_one_token_for_everyone(results, 8 * 16)
    assert slow_emulator.request_count == 1
    assert shared == digest(slow_emulator.issued_tokens[0])


def test_redis_cache_fleet_of_8x16_cold_makes_one_request(
    slow_emulator: TokenEmulator, redis_url: str, redis_prefix: str
) -> None:
    config = config_for(
        slow_emulator,
        {"backend": "redis", "plaintext": True, "url": redis_url, "key_prefix": redis_prefix},
    )
    results = run_fleet(config, processes=8, threads=16)
    shared = assert_one_token_for_everyone(results, 8 * 16)
    assert slow_emulator.request_count == 1
    assert shared == digest(slow_emulator.issued_tokens[0])


def test_memory_only_fleet_makes_one_request_per_process(slow_emulator: TokenEmulator) -> None:
    results = run_fleet(config_for(slow_emulator, "memory"), processes=4, threads=8)
    assert [len({c["digest"] for c in r["results"]}) for r in results] == [1, 1, 1, 1]
    assert slow_emulator.request_count == 4


# -- tokens that expire during the run: one request per refresh for the whole fleet -------


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_fleet_refreshes_each_token_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        cache: dict[str, Any] = {
            "backend": "redis",
            "plaintext": True,
            "url": url,
            "key_prefix": request.getfixturevalue("redis_prefix"),
        }
    else:
        cache = {"backend": "file", "path": str(tmp_path / "cache")}
    # 3 s tokens: each process's early window opens after 2 s (jittered), so a 7 s run
    # goes through three or four generations of the token.
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", expires_in=3, latency=0.05
    ) as emulator:
        results = run_fleet(config_for(emulator, cache), processes=4, threads=4, seconds=7)
        calls = [c for r in results for c in r["results"]]
        assert [e for r in results for e in r["errors"]] == []
        assert all(c["valid"] for c in calls)
        generations = {c["digest"] for c in calls}
        assert len(generations) >= 3
        # Every token fetched was one generation, fetched by one process for all of them.
        assert emulator.request_count == len(emulator.issued_tokens) == len(generations)


# -- the lock holder is killed mid-fetch --------------------------------------------------


def kill_holder_then_take_over(emulator: TokenEmulator, cache: dict[str, Any]) -> None:
    config = config_for(emulator, cache)
    emulator.gate.clear()  # the holder's request arrives, and is held there
    holder = Worker(config)
    holder.wait_ready()
    holder.go()
    wait_until(lambda: emulator.request_count == 1, timeout=30)
    os.kill(holder.process.pid, signal.SIGKILL)
    holder.process.communicate(timeout=10)
    assert holder.process.returncode == -signal.SIGKILL
    emulator.gate.set()
    results = run_fleet(config, processes=3, threads=4)
    survivor = assert_one_token_for_everyone(results, 3 * 4)
    assert emulator.request_count == 2
    # The dead holder's request was answered into a closed socket; the survivors use
    # the token of the one request made after it.
    assert survivor in {digest(t) for t in emulator.issued_tokens}


def test_file_lock_holder_killed_mid_fetch_others_take_over(
    emulator: TokenEmulator, tmp_path: Path
) -> None:
    # flock dies with its process: the others take over at once.
    kill_holder_then_take_over(
        emulator, {"backend": "file", "path": str(tmp_path / "cache"), "lock_lease": 2}
    )


def test_redis_lock_holder_killed_mid_fetch_others_take_over_after_the_lease(
    emulator: TokenEmulator, redis_url: str, redis_prefix: str
) -> None:
    import redis

    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": redis_url,
        "key_prefix": redis_prefix,
        "lock_lease": 2,
    }
    client = redis.Redis.from_url(redis_url)
    try:
        kill_holder_then_take_over(emulator, cache)
        # The dead holder's lock was left to its lease, and the survivor released its own.
        assert list(client.scan_iter(match=redis_prefix + "lock:*")) == []
        assert len(list(client.scan_iter(match=redis_prefix + "token:*"))) == 1
    finally:
        client.close()


# -- Redis stops during a run ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis(redis_url: str) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis of this test's own on a free port (the shared one is never stopped)."""
    port = free_port()
    servers: list[subprocess.Popen[bytes]] = []
    server = start_redis_server(port, daemonize=False)
    if server is None:
        why = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    servers.append(server)
    wait_until(lambda: redis_answers(port), timeout=10)
    yield port, servers
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)


def test_redis_stopping_mid_run_every_call_succeeds_one_warning_then_back(
    emulator: TokenEmulator,
    private_redis: tuple[int, list[subprocess.Popen[bytes]]],
    leak_guard: Any,
) -> None:
    import redis

    port, servers = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    cache = {"backend": "redis", "plaintext": True, "url": url, "timeout": 0.5}
    with Registry.from_dict(config_for(emulator, cache)) as registry:
        registry.get_token("a")
        assert emulator.request_count == 1
        servers[0].terminate()
        servers[0].wait(timeout=10)
        assert not redis_answers(port)
        # Redis is gone: every call still gets a token, fetched here, single-flight.
        got = []
        for _ in range(5):
            registry.invalidate("a")
            got.append(registry.get_token("a"))
        assert all(t.access_token.startswith(TOKEN_MARK) for t in got)
        assert emulator.request_count == 6
        warnings = [
            line
            for line in leak_guard.lines
            if "tokenrack.cache.guard" in line and "unavailable" in line
        ]
        assert len(warnings) == 1, warnings
        # Redis comes back (same port): after the breaker's backoff, tokens go there again.
        server = start_redis_server(port, daemonize=False)
        assert server is not None
        servers.append(server)
        wait_until(lambda: redis_answers(port), timeout=10)
        client = redis.Redis.from_url(url)
        try:

            def stored_again() -> bool:
                time.sleep(0.1)
                registry.invalidate("a")
                registry.get_token("a")
                return bool(list(client.scan_iter(match="tokenrack:token:*")))

            wait_until(stored_again, timeout=20)
        finally:
            client.close()
        assert any("answers again after" in line for line in leak_guard.lines)
        assert len([line for line in leak_guard.lines if "unavailable (" in line]) == 1, (
            "one warning per outage"
        )
