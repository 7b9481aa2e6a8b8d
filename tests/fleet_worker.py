"""One process of a fleet, for tests/test_fleet.py (run as a script, never imported by pytest).

Environment:
    TOKENRACK_TEST_CONFIG   the config, as JSON (the parent builds it against its emulator)
    TOKENRACK_TEST_PROFILE  the profile to ask for (default ``a``)
    TOKENRACK_TEST_THREADS  threads that ask at once (default 1)
    TOKENRACK_TEST_SECONDS  when set, each thread keeps asking, every 10 ms, for this long

It builds its registry, prints ``ready``, waits for ``go`` on stdin (so the parent can
release every process at once), lets its threads call ``get_token`` together through a
barrier, and prints one JSON line: a digest of each token it got (never the token), whether
it was still valid, and any errors. Logs go to stderr at INFO, for the parent's leak check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time

from tokenrack.core.registry import Registry


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
    config = json.loads(os.environ["TOKENRACK_TEST_CONFIG"])
    profile = os.environ.get("TOKENRACK_TEST_PROFILE", "a")
    threads = int(os.environ.get("TOKENRACK_TEST_THREADS", "1"))
    registry = Registry.from_dict(config)
    registry.runtime(profile)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    barrier = threading.Barrier(threads)
    results: list[dict[str, object]] = []
    errors: list[str] = []
    lock = threading.Lock()

    seconds = float(os.environ.get("TOKENRACK_TEST_SECONDS", "0"))

    def ask() -> None:
        try:
            token = registry.get_token(profile)
        except Exception as error:
            with lock:
                errors.append(f"{type(error).__name__}: {error}")
            return
        digest = hashlib.sha256(token.access_token.encode()).hexdigest()[:16]
        with lock:
            results.append({"digest": digest, "valid": token.expires_at > time.time()})

    def call() -> None:
        barrier.wait()
        ask()
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            time.sleep(0.01)
            ask()

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    registry.close()
    print(json.dumps({"results": results, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
