"""`make demo` really runs: every profile of config/demo.yaml against the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # eleven emulators, TLS certificates and keys made at start
def test_demo_fetches_each_token_once_and_serves_repeats_from_the_cache() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            str(ROOT / "config" / "demo.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    profiles = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["profiles"]
    rows = {row["profile"]: row for row in report["profiles"]}
    assert set(rows) == set(profiles)

    def provider(name: str) -> str:
        profile = profiles[name]
        return profile.get("provider") or provider(profile["extends"])

    for name, row in rows.items():
        assert row["provider"] == provider(name)
        assert row["token_type"] == "Bearer"  # Zoom's "bearer" and Apigee's "BearerToken" included
        assert row["expires_in"] > 0
        outcomes = [call["outcome"] for call in row["calls"]]
        assert len(outcomes) == 3 and outcomes[1:] == ["cache hit", "cache hit"]
    assert rows["billing"]["expires_in"] == 3600 and rows["salesforce"]["expires_in"] == 1800
    # invoices-reader asks for billing's token: served from the cache, no request of its own.
    assert [c["outcome"] for c in rows["invoices-reader"]["calls"]] == ["cache hit"] * 3
    assert rows["invoices-reader"]["requests"] == 0
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
    assert rows["graph-cert"]["auth_method"] == "private_key_jwt"
    assert (
        rows["google-reports"]["auth_method"] == rows["google-directory"]["auth_method"] == "none"
    )
    # billing and invoices-reader share a token: one request per other profile.
    assert report["calls"] == 3 * len(profiles)
    assert report["requests"] == len(profiles) - 1
