"""`make demo` really runs: every profile of config/demo.yaml against the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # eleven emulators, TLS certificates and keys made at start
def test_demo_fetches_each_token_once_and_serves_repeats_from_the_cache() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(ROOT / "config" / "demo.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    profiles = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["profiles"]
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.split() and line.split()[0] in profiles
    }
    assert set(rows) == set(profiles)

    def provider(name: str) -> str:
        profile = profiles[name]
        return profile.get("provider") or provider(profile["extends"])

    for name, line in rows.items():
        fields = line.split()
        assert fields[1] == provider(name)
        assert fields[3] == "Bearer"  # Zoom's "bearer" and Apigee's "BearerToken" included
        assert fields[4].endswith("s") and float(fields[4][:-1]) > 0
        assert line.count("cache hit") >= 2
    assert "3600s" in rows["billing"] and "1800s" in rows["salesforce"]  # no expires_in there
    assert "cache hit" in rows["invoices-reader"] and "fetch" not in rows["invoices-reader"]
    assert rows["invoices-reader"].split()[5] == "0"  # requests made for that profile
    # Every vendor of the pack has a demo profile.
    providers = {p.get("provider") for p in profiles.values()}
    assert providers >= {
        "azure",
        "okta",
        "auth0",
        "keycloak",
        "cognito",
        "salesforce",
        "zoom",
        "ping",
        "google",
        "apigee",
    }
    # Certificate credentials, and a grant that needs no client authentication.
    assert rows["graph-cert"].split()[2] == "private_key_jwt"
    assert rows["google-reports"].split()[2] == rows["google-directory"].split()[2] == "none"
    # billing and invoices-reader share a token: one request per other profile.
    calls, requests = 3 * len(profiles), len(profiles) - 1
    assert f"{calls} get_token calls, {requests} requests to the token endpoints" in out
