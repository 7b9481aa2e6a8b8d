"""tokenrack beside its peers (Authlib, requests-auth, MSAL) on the emulator, in one run.

Run with ``make bench`` (installs the ``bench`` extra) or
``.venv/bin/python benchmarks/compare.py``. Every library talks to the same emulator,
served over TLS with a CA made for this run (MSAL speaks only https), and each is used the
way its documentation shows for the client-credentials grant:

- tokenrack: ``Registry.get_token``.
- Authlib: ``OAuth2Session(..., token_endpoint=..., grant_type="client_credentials")``;
  ``fetch_token()`` once, then ``ensure_active_token()`` before each use (what its
  ``request()`` does), default 60 s leeway.
- requests-auth: ``OAuth2ClientCredentials`` as a requests ``auth``, applied to a prepared
  request (its cache is a process-wide dict keyed by the request parameters), default 30 s
  early expiry.
- MSAL: ``ConfidentialClientApplication.acquire_token_for_client``, with
  ``instance_discovery=False`` and an authority served by a small https server here that
  answers MSAL's tenant discovery (``/<tenant>/v2.0/.well-known/openid-configuration``)
  with the emulator's token endpoint.

Measured: cache-hit latency, token requests for 64 threads on a cold cache (50 ms server),
requests / slow calls / expired tokens with 2-second tokens (8 threads, 10 s), import time.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from core import import_ms, p99, per_call_ns, record

from tokenrack import Registry
from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import TestCertificates, make_certificates

CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"
SCOPE = "api://bench/.default"
TENANT = "bench-tenant"

Get = Callable[[], tuple[str, float]]
"""Returns (access token, expiry in epoch seconds)."""


class MetadataServer:
    """Serves the OpenID configuration MSAL asks its authority for, over TLS."""

    def __init__(self, certs: TestCertificates, token_url: str) -> None:
        body = {
            "token_endpoint": token_url,
            "authorization_endpoint": token_url.rsplit("/", 1)[0] + "/authorize",
            "issuer": "",
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != f"/{TENANT}/v2.0/.well-known/openid-configuration":
                    self.send_error(404)
                    return
                payload = json.dumps(
                    {
                        **body,
                        "issuer": f"https://127.0.0.1:{self.server.server_address[1]}/{TENANT}/v2.0",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = certs.server_context().wrap_socket(
            self.server.socket, server_side=True
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/{TENANT}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def trust(certs: TestCertificates) -> None:
    """Make the run's CA the one requests trusts by default.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's ``verify``
    (psf/requests#3829), so where those are set (as on CI machines) a peer's session-level
    CA setting is ignored; pointing them at the run's CA makes every library trust it.
    tokenrack's ``ca_bundle`` wins over them anyway.
    """
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ[name] = str(certs.ca_path)


# -- one adapter per library: make(emulator) -> (get, close) -----------------------------


def make_tokenrack(
    emulator: TokenEmulator, certs: TestCertificates, metadata: MetadataServer
) -> tuple[Get, Callable[[], None]]:
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "a": {
                    "provider": "generic",
                    "token_url": emulator.token_url,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "scopes": [SCOPE],
                    "ca_bundle": str(certs.ca_path),
                }
            },
        }
    )

    def get() -> tuple[str, float]:
        token = registry.get_token("a")
        return token.access_token, token.expires_at

    return get, registry.close


def make_authlib(
    emulator: TokenEmulator, certs: TestCertificates, metadata: MetadataServer
) -> tuple[Get, Callable[[], None]]:
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        token_endpoint=emulator.token_url,
        grant_type="client_credentials",
    )
    session.verify = str(certs.ca_path)

    def get() -> tuple[str, float]:
        if session.token is None:
            session.fetch_token()
        else:
            session.ensure_active_token(session.token)
        token = session.token
        return token["access_token"], float(token["expires_at"])

    return get, session.close


def make_requests_auth(
    emulator: TokenEmulator, certs: TestCertificates, metadata: MetadataServer
) -> tuple[Get, Callable[[], None]]:
    import requests
    from requests_auth import OAuth2, OAuth2ClientCredentials

    OAuth2.token_cache.clear()
    session = requests.Session()
    session.verify = str(certs.ca_path)
    auth = OAuth2ClientCredentials(
        emulator.token_url, CLIENT_ID, CLIENT_SECRET, scope=SCOPE, session=session
    )
    prepared = requests.Request("GET", "https://api.example/").prepare()

    def get() -> tuple[str, float]:
        header = auth(prepared).headers["Authorization"]
        token = header.split(" ", 1)[1]
        cached = OAuth2.token_cache.tokens.get(auth.state)
        expires_at = float(cached[1]) if cached else 0.0
        return token, expires_at

    return get, session.close


def make_msal(
    emulator: TokenEmulator, certs: TestCertificates, metadata: MetadataServer
) -> tuple[Get, Callable[[], None]]:
    import msal

    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=metadata.authority,
        instance_discovery=False,
        verify=str(certs.ca_path),
    )

    def get() -> tuple[str, float]:
        result = app.acquire_token_for_client(scopes=[SCOPE])
        if "access_token" not in result:
            raise RuntimeError(f"MSAL: {result.get('error')}: {result.get('error_description')}")
        return result["access_token"], time.time() + float(result["expires_in"])

    return get, lambda: None


LIBRARIES: dict[str, tuple[str, Callable[..., tuple[Get, Callable[[], None]]]]] = {
    "tokenrack": ("tokenrack", make_tokenrack),
    "Authlib": ("authlib", make_authlib),
    "requests-auth": ("requests-auth", make_requests_auth),
    "MSAL": ("msal", make_msal),
}


# -- the measurements ----------------------------------------------------------------------


class Rig:
    """An emulator over TLS and MSAL's authority, shared by every measurement."""

    def __init__(self, certs: TestCertificates, **emulator_options: Any) -> None:
        self.certs = certs
        self.emulator = TokenEmulator(
            ssl_context=certs.server_context(), **emulator_options
        ).start()
        self.metadata = MetadataServer(certs, self.emulator.token_url)

    def close(self) -> None:
        self.metadata.close()
        self.emulator.stop()


def bench_hit(certs: TestCertificates) -> dict[str, Any]:
    rig = Rig(certs)
    out: dict[str, Any] = {}
    try:
        gets = {}
        closers = []
        for name, (_, make) in LIBRARIES.items():
            get, close = make(rig.emulator, certs, rig.metadata)
            get()
            gets[name] = get
            closers.append(close)
        samples: dict[str, list[float]] = {name: [] for name in gets}
        for _ in range(3):
            for name, get in gets.items():
                samples[name] += per_call_ns(get, batches=300)
        for name, values in samples.items():
            out[name] = {"median_ns": statistics.median(values), "p99_ns": p99(values)}
        for close in closers:
            close()
    finally:
        rig.close()
    return out


def cold_once(
    make: Callable[..., tuple[Get, Callable[[], None]]], certs: TestCertificates, threads: int
) -> dict[str, Any]:
    rig = Rig(certs, latency=0.05)
    try:
        get, close = make(rig.emulator, certs, rig.metadata)
        barrier = threading.Barrier(threads)
        tokens: list[str] = []
        errors: list[str] = []

        def call() -> None:
            barrier.wait()
            try:
                tokens.append(get()[0])
            except Exception as error:
                errors.append(type(error).__name__)

        workers = [threading.Thread(target=call) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        close()
        return {
            "requests": rig.emulator.request_count,
            "distinct_tokens": len(set(tokens)),
            "errors": len(errors),
        }
    finally:
        rig.close()


def bench_cold(certs: TestCertificates, threads: int = 64) -> dict[str, Any]:
    return {name: cold_once(make, certs, threads) for name, (_, make) in LIBRARIES.items()}


def short_once(
    make: Callable[..., tuple[Get, Callable[[], None]]],
    certs: TestCertificates,
    seconds: float,
    threads: int,
) -> dict[str, Any]:
    rig = Rig(certs, expires_in=2, latency=0.02)
    try:
        get, close = make(rig.emulator, certs, rig.metadata)
        counts = {"calls": 0, "slow_calls": 0, "expired_served": 0, "failures": 0}
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def loop() -> None:
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    _, expires_at = get()
                except Exception:
                    with lock:
                        counts["failures"] += 1
                    continue
                took = time.perf_counter() - started
                with lock:
                    counts["calls"] += 1
                    counts["slow_calls"] += took > 0.1
                    counts["expired_served"] += expires_at <= time.time()
                time.sleep(0.001)

        workers = [threading.Thread(target=loop) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        close()
        return {"requests": rig.emulator.request_count, **counts}
    finally:
        rig.close()


def bench_short_lived(
    certs: TestCertificates, seconds: float = 10.0, threads: int = 8
) -> dict[str, Any]:
    return {
        name: short_once(make, certs, seconds, threads) for name, (_, make) in LIBRARIES.items()
    }


def bench_import() -> dict[str, float]:
    return {
        "tokenrack": import_ms("import tokenrack", "tokenrack"),
        "Authlib": import_ms(
            "import authlib.integrations.requests_client", "authlib.integrations.requests_client"
        ),
        "requests-auth": import_ms("import requests_auth", "requests_auth"),
        "MSAL": import_ms("import msal", "msal"),
    }


def markdown(results: dict[str, Any]) -> str:
    names = list(LIBRARIES)
    versions = results["versions"]
    hit, cold, short, imp = (results[k] for k in ("cache_hit", "cold_64", "short_lived", "import"))
    base = hit["tokenrack"]["median_ns"]
    rows = [
        f"Measured {results['date']} on {results['machine']}, Python {results['python']}; "
        + ", ".join(f"{n} {versions[n]}" for n in names)
        + ".",
        "",
        "| benchmark | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
        "| cache hit, median | "
        + " | ".join(
            f"{hit[n]['median_ns']:,.0f} ns ({hit[n]['median_ns'] / base:.1f}x)" for n in names
        )
        + " |",
        "| cache hit, p99 | " + " | ".join(f"{hit[n]['p99_ns']:,.0f} ns" for n in names) + " |",
        "| 64 threads, cold cache, 50 ms server: token requests | "
        + " | ".join(str(cold[n]["requests"]) for n in names)
        + " |",
        "| 2 s tokens, 8 threads, 10 s: token requests | "
        + " | ".join(str(short[n]["requests"]) for n in names)
        + " |",
        "| 2 s tokens: calls made | " + " | ".join(str(short[n]["calls"]) for n in names) + " |",
        "| 2 s tokens: calls slower than 100 ms | "
        + " | ".join(str(short[n]["slow_calls"]) for n in names)
        + " |",
        "| 2 s tokens: expired tokens served | "
        + " | ".join(str(short[n]["expired_served"]) for n in names)
        + " |",
        "| import time (-X importtime, median) | "
        + " | ".join(f"{imp[n]:.1f} ms" for n in names)
        + " |",
    ]
    return "\n".join(rows)


def main() -> None:
    versions = {name: importlib.metadata.version(dist) for name, (dist, _) in LIBRARIES.items()}
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "versions": versions,
    }
    with tempfile.TemporaryDirectory() as directory:
        certs = make_certificates(Path(directory))
        trust(certs)
        print("cache hit ...", file=sys.stderr)
        results["cache_hit"] = bench_hit(certs)
        print("64 cold threads ...", file=sys.stderr)
        results["cold_64"] = bench_cold(certs)
        print("2-second tokens (about 45 s) ...", file=sys.stderr)
        results["short_lived"] = bench_short_lived(certs)
    print("import time ...", file=sys.stderr)
    results["import"] = bench_import()
    table = markdown(results)
    record("compare", results, table)


if __name__ == "__main__":
    main()
