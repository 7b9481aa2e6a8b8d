"""docs/security.md's threat model names, for every "cannot", a test here that exists.

The table is a claim about this directory: a renamed or deleted attacker test must fail
the docs, not leave a "cannot" that nothing proves.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ATTACKERS = (
    "Redis writer",
    "Redis reader",
    "Other local user",
    "Hostile working directory",
    "Hostile token server",
    "Error tracker",
    "Hostile plugin",
)


def _threat_model_rows() -> list[str]:
    text = (ROOT / "docs" / "security.md").read_text()
    section = text.split("## Threat model", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| **")]


def _tests_in(file: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / "security" / file).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def _references(cell: str) -> list[tuple[str, str]]:
    """(file, test) for each `file.py::test` and each `::test` (the file named before it)."""
    found: list[tuple[str, str]] = []
    current = ""
    for file, name in re.findall(r"`(test_\w+\.py)?::(test_\w+)`", cell):
        current = file or current
        assert current, f"a `::{name}` before any file is named: {cell[:80]}"
        found.append((current, name))
    return found


def test_every_attacker_of_the_issue_has_a_row() -> None:
    rows = _threat_model_rows()
    for attacker in ATTACKERS:
        assert any(attacker.lower() in row.lower() for row in rows), attacker


def test_every_cannot_names_a_test_that_exists() -> None:
    rows = _threat_model_rows()
    named = 0
    for row in rows:
        cannot = row.split(" | ")[-1]
        if "Out of scope" in cannot:
            continue
        references = _references(cannot)
        assert references, f"a 'cannot' without a test: {row[:80]}"
        for file, name in references:
            assert name in _tests_in(file), f"docs/security.md names a missing test {file}::{name}"
        named += len(references)
    assert named >= 40
