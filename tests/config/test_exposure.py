"""A config file with inline secrets that others can read gets a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tokenrack.core.registry import Registry

BODY = """version: 1
profiles:
  inline:
    provider: generic
    token_url: https://idp.example/t
    client_id: c
    client_secret: {secret}
"""


@pytest.mark.parametrize(
    ("mode", "secret", "warned", "who"),
    [
        (0o644, "plain-inline-value", True, "its group and others"),
        (0o640, "plain-inline-value", True, "its group"),
        (0o604, "plain-inline-value", True, "others"),
        (0o600, "plain-inline-value", False, ""),
        (0o644, "{env: SOME_SECRET}", False, ""),
        (0o644, "'${SOME_SECRET}'", False, ""),
    ],
)
def test_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, secret: str, warned: bool, who: str
) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(BODY.format(secret=secret))
    path.chmod(mode)
    Registry.from_file(path)
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == "tokenrack.config" and r.levelno >= logging.WARNING
    ]
    if not warned:
        assert messages == []
        return
    (message,) = messages
    assert str(path) in message and "profiles.inline.client_secret" in message
    assert f"and {who} can read it" in message and f"chmod 600 {path}" in message
    assert "plain-inline-value" not in message
