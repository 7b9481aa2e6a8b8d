"""Shared-cache benchmarks (issue 5): token requests per refresh across a fleet, the cost of
a cache hit through each backend's memory front, and a cold read from Redis and a file.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/fleet.py``); needs Redis on
127.0.0.1:6379 (started if it is down). Every number is measured in this run beside a
baseline measured in the same run, against the token emulator on loopback.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from core import p99, per_call_ns, profile, record

from tokenrack import Registry
from tokenrack.testing import TokenEmulator

WORKER = Path(__file__).with_name("fleet_worker.py")
REDIS_URL = "redis://127.0.0.1:6379/0"


def ensure_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
        return
    except redis.RedisError:
        pass
    try:
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
    finally:
        client.close()

    raise SystemExit("Redis did not start")


def drop_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


def caches(workdir: Path, prefix: str) -> dict[str, Any]:
    return {
        "memory": "memory",
        "file": {"backend": "file", "path": str(workdir / "cache")},
        "redis": {"backend": "redis", "url": REDIS_URL, "key_prefix": prefix, "plaintext": True},
    }


def run_fleet(config: dict[str, Any], processes: int, seconds: float) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "TOKENRACK_BENCH_CONFIG": json.dumps(config),
        "TOKENRACK_BENCH_SECONDS": str(seconds),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=seconds + 120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def bench_requests_per_refresh(
    process_counts: tuple[int, ...] = (1, 8, 32), seconds: float = 8.0, lifetime: int = 3
) -> list[dict[str, Any]]:
    """Each process calls get_token every 10 ms for ``seconds``; tokens live ``lifetime`` s.

    "Refreshes" is the number of token generations one process went through (its distinct
    tokens, cold start included); requests per refresh = token requests / refreshes.
    """
    rows = []
    for processes in process_counts:
        for name in ("memory", "file", "redis"):
            workdir = Path(tempfile.mkdtemp(prefix="tokenrack-bench-"))
            prefix = f"tokenrack-bench:{uuid.uuid4().hex}:"
            try:
                with TokenEmulator(expires_in=lifetime, latency=0.05) as emulator:
                    config = {
                        "version": 1,
                        "profiles": {"a": profile(emulator, cache=caches(workdir, prefix)[name])},
                    }
                    results = run_fleet(config, processes, seconds)
                    refreshes = statistics.mean(len(r["tokens"]) for r in results)
                    rows.append(
                        {
                            "processes": processes,
                            "cache": name,
                            "requests": emulator.request_count,
                            "refreshes_per_process": refreshes,
                            "requests_per_refresh": emulator.request_count / refreshes,
                            "calls": sum(r["calls"] for r in results),
                            "expired_served": sum(r["expired"] for r in results),
                        }
                    )
                    print(rows[-1], file=sys.stderr)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
                drop_prefix(prefix)
    return rows


def bench_hit_through_fronts() -> dict[str, Any]:
    """A fresh token served from memory, for a profile on each backend (interleaved)."""
    workdir = Path(tempfile.mkdtemp(prefix="tokenrack-bench-"))
    prefix = f"tokenrack-bench:{uuid.uuid4().hex}:"
    out: dict[str, Any] = {}
    try:
        with TokenEmulator() as emulator:
            choices = caches(workdir, prefix)
            profiles = {
                name: profile(emulator, cache=cache, scopes=[name])
                for name, cache in choices.items()
            }
            with Registry.from_dict({"version": 1, "profiles": profiles}) as registry:
                for name in choices:
                    registry.get_token(name)
                samples: dict[str, list[float]] = {name: [] for name in choices}
                for _ in range(5):
                    for name in choices:
                        samples[name] += per_call_ns(
                            lambda n=name: registry.get_token(n), batches=600
                        )
                for name, values in samples.items():
                    out[name] = {"median_ns": statistics.median(values), "p99_ns": p99(values)}
                assert emulator.request_count == 3
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        drop_prefix(prefix)
    return out


def bench_cold_read(rounds: int = 300) -> dict[str, Any]:
    """First get_token of a new process-like registry, with the token already shared.

    Baseline: the same first call with memory-only caching, which must fetch (emulator on
    loopback, no added latency). Registries are built (and their profile assembled) before
    the clock starts, so the number is the read itself.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tokenrack-bench-"))
    prefix = f"tokenrack-bench:{uuid.uuid4().hex}:"
    out: dict[str, Any] = {}
    try:
        with TokenEmulator() as emulator:
            for name, cache in caches(workdir, prefix).items():
                config = {"version": 1, "profiles": {"a": profile(emulator, cache=cache)}}
                with Registry.from_dict(config) as seed:
                    seed.get_token("a")
                emulator.reset()
                samples = []
                for _ in range(rounds):
                    with Registry.from_dict(config) as registry:
                        registry.runtime("a")
                        started = time.perf_counter_ns()
                        registry.get_token("a")
                        samples.append((time.perf_counter_ns() - started) / 1000)
                out[name] = {
                    "median_us": statistics.median(samples),
                    "p99_us": p99(samples),
                    "token_requests": emulator.request_count,
                }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        drop_prefix(prefix)
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']}, Python {results['python']}, "
        f"Redis {results['redis_version']}.",
        "",
        "Token requests per refresh (3 s tokens, 50 ms server, every process calls every 10 ms "
        "for 8 s):",
        "",
        "| processes | memory only (baseline) | file | redis | expired tokens served (all runs) |",
        "| --- | --- | --- | --- | --- |",
    ]
    by = {(r["processes"], r["cache"]): r for r in results["requests_per_refresh"]}
    for processes in sorted({r["processes"] for r in results["requests_per_refresh"]}):
        cells = []
        for name in ("memory", "file", "redis"):
            row = by[(processes, name)]
            cells.append(f"{row['requests_per_refresh']:.2f} ({row['requests']} requests)")
        expired = sum(by[(processes, n)]["expired_served"] for n in ("memory", "file", "redis"))
        lines.append(f"| {processes} | {' | '.join(cells)} | {expired} |")
    hit = results["hit_through_fronts"]
    base = hit["memory"]["median_ns"]
    lines += [
        "",
        "| benchmark | baseline (same run) | file | redis |",
        "| --- | --- | --- | --- |",
        f"| warm cache hit through the memory front, median | {base:.0f} ns (memory only) "
        f"| {hit['file']['median_ns']:.0f} ns ({hit['file']['median_ns'] / base:.2f}x) "
        f"| {hit['redis']['median_ns']:.0f} ns ({hit['redis']['median_ns'] / base:.2f}x) |",
        f"| warm cache hit, p99 | {hit['memory']['p99_ns']:.0f} ns | {hit['file']['p99_ns']:.0f} ns "
        f"| {hit['redis']['p99_ns']:.0f} ns |",
    ]
    cold = results["cold_read"]
    fetch = cold["memory"]["median_us"]
    lines += [
        f"| first call of a new process, token already shared, median | {fetch:.0f} µs (memory "
        f"only: a fetch, 0 ms server) | {cold['file']['median_us']:.0f} µs "
        f"({cold['file']['median_us'] / fetch:.2f}x) | {cold['redis']['median_us']:.0f} µs "
        f"({cold['redis']['median_us'] / fetch:.2f}x) |",
        f"| same, token requests in {results['cold_rounds']} first calls | "
        f"{cold['memory']['token_requests']} | {cold['file']['token_requests']} "
        f"| {cold['redis']['token_requests']} |",
    ]
    return "\n".join(lines)


def main() -> None:
    import redis

    ensure_redis()
    client = redis.Redis.from_url(REDIS_URL)
    version = client.info("server")["redis_version"]
    client.close()
    counts = tuple(int(n) for n in os.environ.get("TOKENRACK_BENCH_PROCESSES", "1,8,32").split(","))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "redis_version": version,
        "cold_rounds": 300,
    }
    print("cache hit through each front ...", file=sys.stderr)
    results["hit_through_fronts"] = bench_hit_through_fronts()
    print("cold reads ...", file=sys.stderr)
    results["cold_read"] = bench_cold_read(results["cold_rounds"])
    print("requests per refresh (about 2 minutes) ...", file=sys.stderr)
    results["requests_per_refresh"] = bench_requests_per_refresh(counts)
    table = markdown(results)
    record("fleet", results, table)


if __name__ == "__main__":
    main()
