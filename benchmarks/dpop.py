"""DPoP (RFC 9449, issue 13): what a DPoP profile costs beside a Bearer one, in one run.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/dpop.py``). Two profiles against
the emulator, one plain and one with ``dpop: true`` (the strict ``DPoPPersonality``):

- the cache hit, ``Registry.get_token``, for each: the DPoP profile's is the same code path
  (the key's thumbprint is part of the cache key, computed once when the profile is built);
- the cost of one proof per API request: ``Registry.dpop_proof`` with ``ath`` (ES256, and
  EdDSA and PS256 beside it), and the headers ``BearerAuth`` adds for a Bearer token and for
  a DPoP one (the proof included);
- a request to a loopback API (that checks nothing) with ``requests`` and ``BearerAuth``,
  Bearer and DPoP, so the proof's share of a whole (local) request shows.

Medians of several rounds, in one process; the Markdown table printed is what
docs/performance.md records, and results/dpop.json keeps the numbers.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tokenrack import BearerAuth, Registry
from tokenrack.core.bearer_auth import TokenSource
from tokenrack.testing import TokenEmulator
from tokenrack.testing.dpop import DPoPPersonality

RESULTS = Path(__file__).parent / "results"
ROUNDS = 7


def per_call_ns(call: Callable[[], object], number: int) -> float:
    """The median over ROUNDS of the mean time of one call, in nanoseconds."""
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for _ in range(number):
            call()
        samples.append((time.perf_counter_ns() - started) / number)
    return statistics.median(samples)


class OkServer:
    """An API on loopback that answers every request 200 and checks nothing."""

    def __enter__(self) -> OkServer:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": "test-client",
        "client_secret": "test-secret",
        "allow_insecure_http": True,
        **options,
    }


def main() -> None:
    personality = DPoPPersonality(require_nonce=False)
    results: dict[str, float] = {}
    with (
        TokenEmulator() as plain,
        TokenEmulator(personality=personality) as strict,
    ):
        registry = Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "bearer": profile(plain),
                    "dpop": profile(strict, dpop=True),
                    "dpop_eddsa": profile(strict, dpop=True, dpop_alg="EdDSA"),
                    "dpop_ps256": profile(strict, dpop=True, dpop_alg="PS256"),
                },
            }
        )
        for name in ("bearer", "dpop", "dpop_eddsa", "dpop_ps256"):
            registry.get_token(name)
        results["cache_hit_bearer_ns"] = per_call_ns(lambda: registry.get_token("bearer"), 100_000)
        results["cache_hit_dpop_ns"] = per_call_ns(lambda: registry.get_token("dpop"), 100_000)
        url = "https://api.example.com/v1/things?page=2"
        for name, key in (("dpop", "es256"), ("dpop_eddsa", "eddsa"), ("dpop_ps256", "ps256")):
            token = registry.get_token(name).access_token
            results[f"proof_{key}_ns"] = per_call_ns(
                lambda n=name, t=token: registry.dpop_proof(n, "GET", url, access_token=t), 2_000
            )
        bearer_source = TokenSource("bearer", registry)
        dpop_source = TokenSource("dpop", registry)
        bearer_token = registry.get_token("bearer")
        dpop_token = registry.get_token("dpop")
        results["headers_bearer_ns"] = per_call_ns(
            lambda: bearer_source.headers(bearer_token, "GET", url), 100_000
        )
        results["headers_dpop_ns"] = per_call_ns(
            lambda: dpop_source.headers(dpop_token, "GET", url), 2_000
        )
        # A whole request on loopback, to an API that answers 200 to anything: the client's
        # side only (the proof is made and sent, not checked).
        with OkServer() as ok:
            for name in ("bearer", "dpop"):
                with requests.Session() as session:
                    session.auth = BearerAuth(name, registry=registry)
                    assert session.get(ok.url + "/v1/things").status_code == 200
                    results[f"request_{name}_ns"] = per_call_ns(
                        lambda s=session: s.get(ok.url + "/v1/things?page=2"), 300
                    )
        registry.close()

    def us(key: str) -> str:
        return f"{results[key] / 1000:.2f}"

    rows = [
        ("cache hit, `get_token`", us("cache_hit_bearer_ns"), us("cache_hit_dpop_ns")),
        ("headers for one request (`BearerAuth`)", us("headers_bearer_ns"), us("headers_dpop_ns")),
        ("one proof, ES256 (`dpop_proof`)", "-", us("proof_es256_ns")),
        ("one proof, EdDSA", "-", us("proof_eddsa_ns")),
        ("one proof, PS256", "-", us("proof_ps256_ns")),
        (
            "a GET on loopback with `requests` + `BearerAuth`",
            us("request_bearer_ns"),
            us("request_dpop_ns"),
        ),
    ]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
        f"{platform.python_version()}; medians of {ROUNDS} rounds, microseconds per call.",
        "",
        "| what | Bearer (µs) | DPoP (µs) |",
        "| --- | ---: | ---: |",
        *(f"| {what} | {bearer} | {dpop} |" for what, bearer, dpop in rows),
    ]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dpop.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "dpop.md").write_text(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
