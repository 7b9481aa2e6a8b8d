"""configuration.md's samples about loading and validation run as written and print what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(after: str, until: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) between two markdown lines."""
    text = DOC.read_text()
    start = text.index(after)
    end = text.index(until, start + len(after))
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(text[start:end])]


def write(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(text)
    path.chmod(0o600)


def test_the_duplicate_key_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (_, yaml_text), (_, expected) = blocks("# Configuration reference", "## Profile keys")
    write(tmp_path, yaml_text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        Registry.from_file("tokenrack.yaml")
    assert str(caught.value) == expected.strip()


def test_the_isolation_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (_, yaml_text), (_, expected), (_, python) = blocks(
        "### Profiles are isolated", "### What stops the whole file"
    )
    write(tmp_path, yaml_text)
    monkeypatch.chdir(tmp_path)
    with Registry.from_file("tokenrack.yaml", environ={}) as registry:
        assert registry.profiles() == ["billing", "payroll"]
        assert str(registry.problems()["payroll"]) == expected.strip()
        with pytest.raises(ConfigError) as caught:
            registry.get_token("payroll")
        assert str(caught.value) == expected.strip()
    env = {k: v for k, v in os.environ.items() if k != "PAYROLL_IDP_URL"}
    env["BILLING_CLIENT_SECRET"] = "s"
    done = subprocess.run(
        [sys.executable, "-c", python],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("['billing', 'payroll']\npayroll: tokenrack.yaml: 2 problems:")


def test_the_defaults_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (_, yaml_text), (_, expected) = blocks(
        "### What stops the whole file", "## The exported schema"
    )
    write(tmp_path, yaml_text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        Registry.from_file("tokenrack.yaml")
    assert str(caught.value) == expected.strip()
