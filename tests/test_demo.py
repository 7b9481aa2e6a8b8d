"""`make demo` really runs: every profile of config/demo.yaml against the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


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
    for line in rows.values():
        assert "Bearer" in line and "3600s" in line
        assert line.count("cache hit") >= 2
    assert "cache hit" in rows["invoices-reader"] and "fetch" not in rows["invoices-reader"]
    # billing and invoices-reader share a token: 4 profiles, 3 distinct tokens.
    assert f"{3 * len(profiles)} get_token calls, 3 requests to the token endpoint" in out
