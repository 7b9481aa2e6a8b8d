"""Finding personalities by name through the ``tokenrack.personalities`` entry points."""

from __future__ import annotations

import importlib.metadata
from typing import Any, ClassVar

import pytest

from tokenrack.testing import personalities
from tokenrack.testing.personality import Personality


class Acme(Personality):
    name: ClassVar[str] = "acme"


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **registered: str) -> None:
    """Make the group hold exactly ``registered`` (name -> "module:attr")."""
    points = [
        importlib.metadata.EntryPoint(name, value, personalities.GROUP)
        for name, value in registered.items()
    ]

    def entry_points(**selection: Any) -> importlib.metadata.EntryPoints:
        return importlib.metadata.EntryPoints(points).select(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_names_put_rfc6749_first_then_the_registered_sorted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_entry_points(monkeypatch, zed=f"{__name__}:Acme", acme=f"{__name__}:Acme")
    assert personalities.names() == ("rfc6749", "acme", "zed")


def test_load_imports_the_registered_class(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, acme=f"{__name__}:Acme")
    assert type(personalities.load("acme")) is Acme


def test_rfc6749_is_the_emulators_own_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch)
    assert type(personalities.load("rfc6749")) is Personality
    assert personalities.names() == ("rfc6749",)


def test_an_unknown_name_is_refused_with_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, acme=f"{__name__}:Acme")
    with pytest.raises(personalities.PersonalityNotFoundError) as refused:
        personalities.load("entra-ish")
    assert str(refused.value) == "no emulator personality 'entra-ish' (available: rfc6749, acme)"
