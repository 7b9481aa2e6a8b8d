"""Scale benchmarks (issue 15): a 10,000-profile config, and memory per cached token.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/scale.py``). Writes
``results/scale.json`` and ``results/scale.md`` (the table docs/performance.md records).
``--quick`` runs each timing three times, skips the memory-per-token measure and only prints its
table (results/ is left alone): for comparing two trees in one session, e.g. with
``PYTHONPATH=other/src`` for the baseline.

The config is what a service with one profile per customer tenant writes: one ``base``
profile with the provider and token URL, and 10,000 tenants that ``extends`` it, each with
its own client id, its scopes and an ``{env: …}`` secret. Every timing runs in a fresh
process (the way a service or the CLI meets the file), several times, and the median is
kept with its min and max. The token endpoint is the emulator, in a process of its own, so
that neither its CPU nor its memory is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import record

TENANTS = 10_000
USED = 5_000  # the tenant whose first token is measured
RUNS = 5
SECRET = "tenant-secret-{index}"

_EMULATOR = """
import sys
from tokenrack.testing import EmulatorClient, TokenEmulator
clients = [EmulatorClient("test-client", "test-secret")]
clients += [EmulatorClient(f"client-{i}", f"tenant-secret-{i}") for i in map(int, sys.argv[1:])]
with TokenEmulator(clients) as emulator:
    print(emulator.token_url, flush=True)
    sys.stdin.read()
"""

_LOAD = """
import json, os, resource, sys, time
def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
before = rss()
started = time.perf_counter()
from tokenrack import Registry
registry = Registry.from_file(sys.argv[1])
loaded = time.perf_counter()
after = rss()
token = registry.get_token(sys.argv[2])
first = time.perf_counter()
assert token.access_token
print(json.dumps({
    "load_s": loaded - started,
    "first_token_ms": (first - loaded) * 1000,
    "rss_growth_mb": (after - before) / 1024,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "profiles": len(registry.profiles()),
}))
"""

_MEMORY = """
import gc, json, subprocess, sys, tracemalloc
from tokenrack import Registry
count, url = int(sys.argv[1]), sys.argv[2]
data = {"version": 1, "profiles": {
    f"t{i}": {"provider": "generic", "token_url": url, "client_id": "test-client",
              "client_secret": "test-secret", "scopes": [f"scope.{i}"]}
    for i in range(count)}}
registry = Registry.from_dict(data)
registry.get_token("t0")  # the transport, the plugins and their imports: not per token
gc.collect()
tracemalloc.start()
start = tracemalloc.get_traced_memory()[0]
for i in range(1, count):
    registry.runtime(f"t{i}")
gc.collect()
built = tracemalloc.get_traced_memory()[0]
for i in range(1, count):
    registry.get_token(f"t{i}")
gc.collect()
cached = tracemalloc.get_traced_memory()[0]
print(json.dumps({
    "tokens": count - 1,
    "per_token_bytes": (cached - built) / (count - 1),
    "per_profile_built_bytes": (built - start) / (count - 1),
    "token_length": len(registry.get_token("t1").access_token),
}))
"""


def write_config(path: Path, url: str, tenants: int) -> None:
    lines = [
        "version: 1",
        "defaults:",
        "  allow_insecure_http: true  # the emulator is plain http on loopback",
        "  timeout: {connect: 2, read: 5}",
        "profiles:",
        "  base:",
        "    provider: generic",
        f"    token_url: {url}",
        "    client_id: base",
        "    client_secret: {env: BASE_SECRET}",
    ]
    for index in range(tenants):
        lines += [
            f"  tenant-{index:05d}:",
            "    extends: base",
            f"    client_id: client-{index}",
            f"    client_secret: {{env: TENANT_{index}_SECRET}}",
            f"    scopes: [api.read, tenant.{index}]",
        ]
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def emulator(*tenants: int) -> Iterator[str]:
    """The emulator in a process of its own, accepting these tenants; yields its token URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR, *map(str, tenants)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_json(code: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def bench_config(tenants: int, work: Path, runs: int = RUNS) -> dict[str, Any]:
    """Load, first token, `tokenrack profiles` and the CLI warm path on one config size."""
    tokenrack = str(Path(sys.executable).with_name("tokenrack"))
    env = {
        **os.environ,
        "BASE_SECRET": "unused",
        "XDG_CACHE_HOME": str(work / f"cache-{tenants}"),
        **{f"TENANT_{i}_SECRET": SECRET.format(index=i) for i in range(tenants)},
    }
    used = min(USED, tenants - 1)
    name = f"tenant-{used:05d}"
    with emulator(used) as url:
        path = work / f"tenants-{tenants}.yaml"
        write_config(path, url, tenants)
        path.chmod(0o600)
        # A new or changed file (or one with an inline secret): YAML parsed every time.
        parsing = {**env, "TOKENRACK_PARSED_CONFIG": "off"}
        loads = [run_json(_LOAD, str(path), name, env=parsing) for _ in range(runs)]
        # The same file seen before: read back from its remembered parsed data.
        run_json(_LOAD, str(path), name, env=env)
        remembered = [run_json(_LOAD, str(path), name, env=env) for _ in range(runs)]
        repeats = min(3, runs)
        profiles = [
            timed([tokenrack, "--config", str(path), "profiles"], env) for _ in range(repeats)
        ]
        names = [
            timed([tokenrack, "--config", str(path), "profiles", "--names"], env)
            for _ in range(repeats)
        ]
        token = [tokenrack, "--config", str(path), "token", name]
        cold = timed(token, env)  # fetches, and writes the file cache
        warm = [timed(token, env) for _ in range(runs)]
    return {
        "tenants": tenants,
        "file_bytes": path.stat().st_size,
        "load_s": spread([r["load_s"] for r in loads]),
        "rss_growth_mb": spread([r["rss_growth_mb"] for r in loads]),
        "peak_rss_mb": spread([r["peak_rss_mb"] for r in loads]),
        "first_token_ms": spread([r["first_token_ms"] for r in loads]),
        "load_remembered_s": spread([r["load_s"] for r in remembered]),
        "rss_growth_remembered_mb": spread([r["rss_growth_mb"] for r in remembered]),
        "first_token_remembered_ms": spread([r["first_token_ms"] for r in remembered]),
        "cli_profiles_s": spread(profiles),
        "cli_profiles_names_s": spread(names),
        "cli_token_cold_s": cold,
        "cli_token_warm_s": spread(warm),
    }


def bench_memory(count: int = 10_000) -> dict[str, Any]:
    with emulator() as url:
        return run_json(_MEMORY, str(count), url, env=dict(os.environ))


def remembered_rows(small: dict[str, Any], big: dict[str, Any], goal: Any, cell: Any) -> list[str]:
    """The loads of a file seen before (none in results from before remembered configs)."""
    if "load_remembered_s" not in big:
        return []
    load = big["load_remembered_s"]["median"]
    rss = big["rss_growth_remembered_mb"]["median"]
    return [
        f"| `Registry.from_file`, file seen before (remembered) "
        f"| {cell(small['load_remembered_s'], 's', digits=3)} "
        f"| {cell(big['load_remembered_s'], 's', digits=3)} | {goal(load < 1.0, '< 1 s')} |",
        f"| RSS growth while loading, file seen before "
        f"| {cell(small['rss_growth_remembered_mb'], 'MB', digits=1)} "
        f"| {cell(big['rss_growth_remembered_mb'], 'MB', digits=1)} "
        f"| {goal(rss < 100, '< 100 MB')} |",
    ]


def markdown(results: dict[str, Any]) -> str:
    big, small = results["10000"], results["10"]
    memory = results.get("memory")

    def cell(value: dict[str, float], unit: str, scale: float = 1.0, digits: int = 2) -> str:
        median, low, high = (value[k] * scale for k in ("median", "min", "max"))
        return f"{median:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"

    def goal(ok: bool, text: str) -> str:
        return f"{text}: {'met' if ok else 'not met'}"

    load = big["load_s"]["median"]
    rss = big["rss_growth_mb"]["median"]
    first = big["first_token_ms"]["median"]
    lines = [
        f"Measured {results['date']} on {results['machine']}, Python {results['python']}; "
        f"each figure is the median of fresh processes (min-max).",
        "",
        "| measure | 10 profiles | 10,000 profiles | goal |",
        "| --- | --- | --- | --- |",
        f"| config file | {small['file_bytes'] / 1024:.1f} KB "
        f"| {big['file_bytes'] / 1024 / 1024:.2f} MB | |",
        f"| `Registry.from_file`, YAML parsed | {cell(small['load_s'], 's', digits=3)} "
        f"| {cell(big['load_s'], 's', digits=3)} | {goal(load < 1.0, '< 1 s')} |",
        f"| RSS growth while loading, YAML parsed "
        f"| {cell(small['rss_growth_mb'], 'MB', digits=1)} "
        f"| {cell(big['rss_growth_mb'], 'MB', digits=1)} | {goal(rss < 100, '< 100 MB')} |",
        *remembered_rows(small, big, goal, cell),
        f"| peak RSS of the process | {cell(small['peak_rss_mb'], 'MB', digits=0)} "
        f"| {cell(big['peak_rss_mb'], 'MB', digits=0)} | |",
        f"| first token of one profile after load (emulator) "
        f"| {cell(small['first_token_ms'], 'ms', digits=1)} "
        f"| {cell(big['first_token_ms'], 'ms', digits=1)} | {goal(first < 50, '< 50 ms')} |",
        f"| `tokenrack profiles` (whole table) | {cell(small['cli_profiles_s'], 's')} "
        f"| {cell(big['cli_profiles_s'], 's')} | fast |",
        f"| `tokenrack profiles --names` | {cell(small['cli_profiles_names_s'], 's')} "
        f"| {cell(big['cli_profiles_names_s'], 's')} | fast |",
        f"| `tokenrack token` cold (fetch) | {small['cli_token_cold_s']:.2f} s "
        f"| {big['cli_token_cold_s']:.2f} s | |",
        f"| `tokenrack token` warm path | {cell(small['cli_token_warm_s'], 's', digits=3)} "
        f"| {cell(big['cli_token_warm_s'], 's', digits=3)} | unaffected by size |",
    ]
    if memory is not None:
        per_token = memory["per_token_bytes"]
        lines += [
            f"| memory per cached token ({memory['tokens']:,} tokens, tracemalloc) | "
            f"| {per_token:.0f} B | {goal(per_token < 2048, '< 2 KB')} |",
            f"| memory per profile built at first use (config, runtime, slot, stats) | "
            f"| {memory['per_profile_built_bytes']:.0f} B | |",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="three runs each, no memory measure, print only"
    )
    quick = parser.parse_args().quick
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory(prefix="tokenrack-scale-") as work:
        for tenants in (10, TENANTS):
            print(f"{tenants} profiles ...", file=sys.stderr)
            results[str(tenants)] = bench_config(tenants, Path(work), runs=3 if quick else RUNS)
    if quick:
        print(json.dumps(results, indent=2))
        print(markdown(results))
        return
    print("memory per token (10,000 tokens) ...", file=sys.stderr)
    results["memory"] = bench_memory()
    record("scale", results, markdown(results))


if __name__ == "__main__":
    main()
