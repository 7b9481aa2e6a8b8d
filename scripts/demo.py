"""`make demo`: every profile of a config against local token emulators.

Starts, on 127.0.0.1, one plain emulator for the `generic` profiles and, for each vendor of
the vendor pack, an HTTPS emulator speaking that vendor's dialect (its personality), with a
throwaway CA. It points the config at them (TOKENRACK_DEMO_URL, DEMO_<VENDOR>_HOST and
DEMO_<VENDOR>_URL, DEMO_CA and the DEMO_* secrets), asks each profile for a token three
times, and prints what happened: provider, auth method, token type, expiry, whether each
call fetched or hit the cache, and how many requests reached a token endpoint. Vendor
profiles keep their vendor's URL template: only the host is the emulator's.

Key material is made here, at start, in a temporary directory that is deleted at the end
(none is committed): an RSA key and certificate for the Entra certificate credential
(DEMO_AZURE_CERT_KEY, DEMO_AZURE_CERT) and a Google service account's JSON key file
(DEMO_GOOGLE_KEY); the emulators are told the matching certificate and public key.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tokenrack_providers.testing.apigee import ApigeePersonality
from tokenrack_providers.testing.google import write_service_account_key
from tokenrack_providers.testing.personalities import (
    PERSONALITIES,
    GooglePersonality,
    PingPersonality,
)

from tokenrack import Registry, TokenrackError
from tokenrack.testing import EmulatorClient, Personality, TokenEmulator
from tokenrack.testing.tls import make_certificates, make_client_certificate

CALLS_PER_PROFILE = 3
DEMO_CLIENTS = {
    # client_id: (environment variable the config reads, the secret the emulator accepts)
    "billing-service": ("DEMO_BILLING_SECRET", "demo-billing-secret+/="),
    "reporting-job": ("DEMO_REPORTING_SECRET", "demo reporting secret"),
    "demo-service": ("DEMO_VENDOR_SECRET", "demo-vendor-secret~+/="),
}
VENDOR_CLIENT = "demo-service"
CERT_CLIENT = "demo-cert-service"  # an Entra app registration with a certificate credential
SERVICE_ACCOUNT = "demo-reports@tokenrack-demo.iam.gserviceaccount.com"
DELEGATED_USER = "admin@acme.example"


def personality(vendor: str) -> Personality:
    """The vendor's personality as the demo config uses it (Ping: PingFederate).

    The demo's Apigee proxy is one built from the classic sample, which reads
    ``grant_type`` from the query (the profile says ``grant_type_in: query``).
    """
    if vendor == "apigee":
        return ApigeePersonality(grant_type_in="query")
    if vendor == "ping":
        return PingPersonality("pingfederate")
    if vendor == "google":
        return GooglePersonality(delegations={SERVICE_ACCOUNT: [DELEGATED_USER]})
    return PERSONALITIES[vendor]()


def key_material(directory: Path) -> dict[str, list[EmulatorClient]]:
    """Make the demo's keys; return the extra clients each vendor's emulator accepts."""
    cert = make_client_certificate(directory, common_name=CERT_CLIENT, key_type="rsa")
    os.environ["DEMO_AZURE_CERT_KEY"] = str(cert.key_path)
    os.environ["DEMO_AZURE_CERT"] = str(cert.cert_path)
    google = write_service_account_key(
        directory / "google-service-account.json", client_email=SERVICE_ACCOUNT
    )
    os.environ["DEMO_GOOGLE_KEY"] = str(google.path)
    return {
        "azure": [EmulatorClient(CERT_CLIENT, public_key=cert.cert_path.read_text())],
        "google": [google.client],
    }


def main(config: Path, *, as_json: bool = False) -> int:
    """Run the demo; print a table (or, with ``as_json``, one JSON document for tests)."""
    say = (lambda *_args, **_kwargs: None) if as_json else print
    clients = [EmulatorClient(cid, secret) for cid, (_, secret) in DEMO_CLIENTS.items()]
    vendor_client = [
        EmulatorClient(VENDOR_CLIENT, DEMO_CLIENTS[VENDOR_CLIENT][1]),
    ]
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        certs = make_certificates(directory)
        extra_clients = key_material(directory / "keys")
        generic = stack.enter_context(TokenEmulator(clients, latency=0.02, expires_in=3600))
        emulators = {"generic": generic}
        for vendor in sorted(PERSONALITIES):
            emulators[vendor] = stack.enter_context(
                TokenEmulator(
                    vendor_client + extra_clients.get(vendor, []),
                    latency=0.02,
                    expires_in=3600,
                    ssl_context=certs.server_context(),
                    personality=personality(vendor),
                )
            )
            os.environ[f"DEMO_{vendor.upper()}_HOST"] = f"127.0.0.1:{emulators[vendor].port}"
            os.environ[f"DEMO_{vendor.upper()}_URL"] = emulators[vendor].url
        os.environ["TOKENRACK_DEMO_URL"] = generic.url
        os.environ["DEMO_CA"] = str(certs.ca_path)
        for variable, secret in DEMO_CLIENTS.values():
            os.environ[variable] = secret
        say(f"token emulators on 127.0.0.1 (loopback only): generic at {generic.url},")
        say(f"and one HTTPS emulator per vendor dialect: {', '.join(sorted(PERSONALITIES))}")
        say(f"config: {config}\n")
        try:
            registry = Registry.from_file(config)
        except TokenrackError as error:
            print(f"config error: {error}", file=sys.stderr)
            return 2

        def requests_so_far() -> int:
            return sum(emulator.request_count for emulator in emulators.values())

        header = (
            f"{'profile':<16} {'provider':<10} {'auth method':<20} {'type':<7} "
            f"{'expires in':>10} {'requests':>8}  calls"
        )
        say(header)
        say("-" * (len(header) + 30))
        rows = []
        with registry:
            for name in registry.profiles():
                row = run_profile(registry, name, requests_so_far)
                rows.append(row)
                say(table_row(row))
        total_calls = sum(1 for row in rows for call in row["calls"] if "error" not in call)
        failures = sum(1 for row in rows for call in row["calls"] if "error" in call)
        say()
        say(
            f"{total_calls} get_token calls, {requests_so_far()} requests to the token "
            f"endpoints: every repeated call was served from the cache, and profiles asking "
            f"for the same token shared it."
        )
        if as_json:
            summary = {"calls": total_calls, "requests": requests_so_far(), "profiles": rows}
            print(json.dumps(summary, indent=2))
        return 1 if failures else 0


def run_profile(
    registry: Registry, name: str, requests_so_far: Callable[[], int]
) -> dict[str, Any]:
    """Ask for ``name``'s token CALLS_PER_PROFILE times; say what each call did."""
    runtime = registry.runtime(name)
    calls: list[dict[str, Any]] = []
    token = None
    at_start = requests_so_far()
    for _ in range(CALLS_PER_PROFILE):
        before = requests_so_far()
        started = time.perf_counter()
        try:
            token = registry.get_token(name)
        except TokenrackError as error:
            calls.append({"outcome": "failed", "error": str(error)})
            break
        elapsed = time.perf_counter() - started
        fetched = requests_so_far() > before
        calls.append({"outcome": "fetch" if fetched else "cache hit", "seconds": elapsed})
    return {
        "profile": name,
        "provider": runtime.config.provider,
        "auth_method": runtime.config.auth_method,
        "token_type": token.token_type if token else None,
        "expires_in": round(token.expires_in()) if token else None,
        "requests": requests_so_far() - at_start,
        "calls": calls,
    }


def table_row(row: dict[str, Any]) -> str:
    """One profile's line of the demo's table."""
    outcomes = []
    for call in row["calls"]:
        if "error" in call:
            outcomes.append(f"failed: {call['error']}")
            continue
        elapsed = call["seconds"]
        took = f"{elapsed * 1e3:.1f} ms" if elapsed >= 1e-3 else f"{elapsed * 1e6:.0f} µs"
        outcomes.append(f"{call['outcome']} {took}")
    expires = f"{row['expires_in']}s" if row["expires_in"] is not None else "-"
    return (
        f"{row['profile']:<16} {row['provider']:<10} {row['auth_method']:<20} "
        f"{row['token_type'] or '-':<7} {expires:>10} {row['requests']:>8}  {', '.join(outcomes)}"
    )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--json"]
    sys.exit(
        main(Path(arguments[0] if arguments else "config/demo.yaml"), as_json="--json" in sys.argv)
    )
