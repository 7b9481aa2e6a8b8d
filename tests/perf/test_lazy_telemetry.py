"""OpenTelemetry is imported at a fetch only once the application has imported it (issue 15)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tokenrack.core import telemetry


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    telemetry.reset()
    yield
    telemetry.reset()


def test_without_the_application_importing_it_nothing_is_loaded_or_latched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("opentelemetry.trace")
    monkeypatch.delenv("TOKENRACK_OTEL", raising=False)
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    assert telemetry._load() is None
    assert "opentelemetry" not in sys.modules
    # The application configures its SDK later: the next fetch reports through it.
    import opentelemetry.trace  # noqa: F401

    assert telemetry._load() is not None


def test_on_imports_it_at_the_first_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.trace")
    monkeypatch.setenv("TOKENRACK_OTEL", "on")
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    assert telemetry._load() is not None
    assert "opentelemetry" in sys.modules
