"""How the CLI prints tokens and tables (one printer for the warm and the full path)."""

from __future__ import annotations

import json
import time

import pytest

from tokenrack.cli.output import print_token, table

FIELDS = {
    "access_token": "tok-123",
    "token_type": "Bearer",
    "expires_at": 1_800_000_000.0,
    "scopes": ("read",),
    "extra": {"instance_url": "https://x.example"},
    # A cached record's times ride along on the warm path; they are not printed.
    "obtained_at": 1.0,
    "lifetime": 2.0,
}


def test_print_token_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert print_token(FIELDS) == 0
    assert capsys.readouterr().out == "tok-123\n"


def test_print_token_as_a_header(capsys: pytest.CaptureFixture[str]) -> None:
    print_token(FIELDS, "header")
    assert capsys.readouterr().out == "Authorization: Bearer tok-123\n"


def test_print_token_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    print_token({**FIELDS, "expires_at": time.time() + 600}, "json")
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {
        "access_token",
        "token_type",
        "expires_at",
        "expires_in",
        "scopes",
        "extra",
    }
    assert document["access_token"] == "tok-123" and document["scopes"] == ["read"]
    assert 590 <= document["expires_in"] <= 600


def test_table_pads_every_column_but_the_last() -> None:
    rendered = table(("A", "LONGER", "LAST"), [("xyz", "1", "tail one"), ("x", None, "t")])
    assert rendered.splitlines() == [
        "A    LONGER  LAST",
        "xyz  1       tail one",
        "x    None    t",
    ]


def test_a_table_without_rows_is_its_header() -> None:
    assert table(("PROFILE", "STATE"), []) == "PROFILE  STATE"
