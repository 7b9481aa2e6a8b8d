"""The exported JSON Schema for editors: current, valid, and as strict as the loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from tokenrack.cli.schema_cmd import composed_schema, render

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = ROOT / "config" / "tokenrack.schema.json"


def test_exported_schema_is_current() -> None:
    assert EXPORTED.read_text() == render(composed_schema()), (
        "config/tokenrack.schema.json is stale: run `make schema`"
    )


def test_exported_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(json.loads(EXPORTED.read_text()))


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(config: Path) -> None:
    validator = Draft202012Validator(json.loads(EXPORTED.read_text()))
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(config.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "profile",
    [
        {"provider": "generic", "scoeps": ["x"]},
        {"provider": "generic", "scopes": "x"},
        {"provider": "generic", "client_secret": {"vault": "x"}},
        {"provider": "generic", "basic_encoding": "base64"},
    ],
)
def test_exported_schema_rejects_typos(profile: dict[str, object]) -> None:
    validator = Draft202012Validator(json.loads(EXPORTED.read_text()))
    assert list(validator.iter_errors({"version": 1, "profiles": {"p": profile}}))


def test_exported_schema_allows_what_extends_and_defaults_supply() -> None:
    validator = Draft202012Validator(json.loads(EXPORTED.read_text()))
    document = {
        "version": 1,
        "defaults": {"timeout": {"read": 5}},
        "profiles": {"child": {"extends": "base", "scopes": ["write"]}},
    }
    assert list(validator.iter_errors(document)) == []
