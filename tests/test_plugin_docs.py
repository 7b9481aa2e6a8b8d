"""docs/plugins.md keeps up with the plugin API: its in-process sample runs, and it sends
authors to ``tokenrack.plugin`` only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _sample(page: str, marker: str) -> str:
    """The python block right after ``<!-- docs-sample: marker -->`` on a docs page."""
    text = (DOCS / page).read_text()
    found = re.search(rf"<!-- docs-sample: {marker} -->\n```python\n(.*?)```", text, re.S)
    assert found, f"{page} has no sample {marker!r}"
    return found.group(1)


def test_in_process_registration_sample_runs() -> None:
    code = _sample("plugins.md", "in-process-registration")
    env = {**os.environ, "ACME_SECRET": "example-secret"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Bearer t1\n"


def test_plugin_docs_send_authors_to_the_plugin_api_only() -> None:
    # Everything inside a subpackage is internal: the plugin guide and the fleet page name
    # tokenrack.plugin, never a module behind it.
    for page in ("plugins.md", "fleet.md"):
        text = (DOCS / page).read_text()
        deep = re.findall(
            r"`tokenrack\.(?:core|cache|auth|oauth|secret|config|util|http)\.[\w.]*`", text
        )
        assert deep == [], page
