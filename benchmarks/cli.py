"""CLI benchmark (issue 6): how long `tokenrack token` takes, warm and cold.

Median wall time over repeated runs, in one run, of:
- `python -c pass` (the floor: starting Python);
- `python -c "import requests, jsonschema, stevedore, yaml"` (what the full path loads);
- warm `tokenrack token PROFILE` (a fresh token in the file cache);
- cold `tokenrack token PROFILE` (an empty cache: load, validate, fetch from the emulator).
Target: warm within 4x of `python -c pass`.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core import record

from tokenrack.testing import TokenEmulator

RUNS = 30
TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


def wall(argv: list[str], env: dict[str, str], *, before: object = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_ms(argv: list[str], env: dict[str, str], *, fresh_cache: bool = False) -> float:
    samples = []
    for _ in range(RUNS):
        if fresh_cache:
            env = {**env, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="tokenrack-bench-")}
        samples.append(wall(argv, env))
    return statistics.median(samples) * 1000


def main() -> None:
    with TokenEmulator() as emulator, tempfile.TemporaryDirectory() as work:
        config = Path(work) / "tokenrack.yaml"
        config.write_text(
            "version: 1\nprofiles:\n  billing:\n    provider: generic\n"
            f"    token_url: {emulator.token_url}\n    client_id: test-client\n"
            "    client_secret: {env: BENCH_SECRET}\n"
        )
        env = {
            **os.environ,
            "BENCH_SECRET": "test-secret",
            "XDG_CACHE_HOME": str(Path(work) / "cache"),
        }
        token = [TOKENRACK, "--config", str(config), "token", "billing"]
        subprocess.run(token, env=env, check=True, stdout=subprocess.DEVNULL)  # fill the cache
        results = {
            "python_pass_ms": median_ms([sys.executable, "-c", "pass"], env),
            "python_imports_ms": median_ms(
                [sys.executable, "-c", "import requests, jsonschema, stevedore, yaml"], env
            ),
            "warm_token_ms": median_ms(token, env),
            "cold_token_ms": median_ms(token, env, fresh_cache=True),
            "cold_requests": emulator.request_count - 1,
        }
    results["warm_ratio"] = results["warm_token_ms"] / results["python_pass_ms"]
    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python {platform.python_version()}; median of {RUNS} runs each.",
            "",
            "| command | median wall time | vs `python -c pass` |",
            "| --- | --- | --- |",
            f"| `python -c pass` | {results['python_pass_ms']:.1f} ms | 1.00x |",
            f'| `python -c "import requests, jsonschema, stevedore, yaml"` | {results["python_imports_ms"]:.1f} ms | {results["python_imports_ms"] / results["python_pass_ms"]:.2f}x |',
            f"| warm `tokenrack token billing` (file cache) | {results['warm_token_ms']:.1f} ms | {results['warm_ratio']:.2f}x (target <= 4x) |",
            f"| cold `tokenrack token billing` (empty cache, emulator) | {results['cold_token_ms']:.1f} ms | {results['cold_token_ms'] / results['python_pass_ms']:.2f}x |",
        ]
    )
    record("cli", results, table)


if __name__ == "__main__":
    main()
