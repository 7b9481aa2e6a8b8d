"""Fixtures shared by the core tests."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from tokenrack.core import catalog as catalog_module


@pytest.fixture
def entry_point_scans(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every entry-point enumeration from here on (the process's scan forgotten first)."""
    seen: list[dict[str, Any]] = []
    real = importlib.metadata.entry_points

    def counting(**selection: Any) -> Any:
        seen.append(selection)
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    monkeypatch.setattr(catalog_module, "_scanned", None)
    return seen
