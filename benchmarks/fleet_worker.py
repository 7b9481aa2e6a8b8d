"""One process of a benchmark fleet (benchmarks/fleet.py starts many of these).

Reads the config (JSON) from TOKENRACK_BENCH_CONFIG, prints ``ready``, waits for ``go`` on
stdin, then calls get_token every 10 ms for TOKENRACK_BENCH_SECONDS and prints one JSON
line: calls made, distinct tokens seen (as digests), calls that got an expired token.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

from tokenrack.core.registry import Registry


def main() -> int:
    config = json.loads(os.environ["TOKENRACK_BENCH_CONFIG"])
    seconds = float(os.environ["TOKENRACK_BENCH_SECONDS"])
    registry = Registry.from_dict(config)
    registry.runtime("a")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    seen: set[str] = set()
    calls = expired = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        token = registry.get_token("a")
        calls += 1
        expired += token.expires_at <= time.time()
        seen.add(hashlib.sha256(token.access_token.encode()).hexdigest()[:16])
        time.sleep(0.01)
    registry.close()
    print(json.dumps({"calls": calls, "tokens": sorted(seen), "expired": expired}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
