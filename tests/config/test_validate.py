"""Schema errors in words: each validator's own message, and every type described."""

from __future__ import annotations

from typing import Any

import pytest

from tokenrack.config.validate import describe, validate
from tokenrack.errors import ConfigProblem

QUOTE = "; YAML reads an unquoted number as a number (0123 as octal 83): put it in quotes"


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"description": "a tenant id", "type": "string"}, "a tenant id"),
        ({"const": 1}, "1"),
        ({"enum": ["a", "b"]}, "one of 'a', 'b'"),
        ({"oneOf": [{"type": "string"}, {"type": "boolean"}]}, "a string or true or false"),
        ({"type": "string", "minLength": 1}, "a non-empty string"),
        ({"type": "number", "exclusiveMinimum": 0}, "a number greater than 0"),
        ({"type": "integer", "minimum": 1, "maximum": 5}, "an integer from 1 to 5"),
        ({"type": "integer", "minimum": 1}, "an integer of at least 1"),
        ({"type": "boolean"}, "true or false"),
        ({"type": "array", "items": {"type": "string"}}, "a list of strings"),
        ({"type": "array", "items": {"enum": [1]}}, "a list of items that are each one of 1"),
        ({"type": "array"}, "a list"),
        (
            {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
            "a mapping with keys a",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            "a mapping of names to integers",
        ),
        ({"type": "object"}, "a mapping"),
        ({"type": ["string", "null"]}, "a valid value"),
        ({}, "a valid value"),
    ],
)
def test_describe_says_each_type_in_words(schema: dict[str, Any], words: str) -> None:
    assert describe(schema) == words


SCHEMA = {
    "type": "object",
    "properties": {
        "token_url": {"type": "string"},
        "secret": {"type": "string"},
        "scopes": {"type": "array", "minItems": 1},
        "params": {"type": "object", "maxProperties": 1},
        "auth": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        "either": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["env"]}]},
    },
    "required": ["token_url"],
    "additionalProperties": False,
}


def problems(instance: dict[str, Any]) -> list[ConfigProblem]:
    return validate(instance, SCHEMA, base="p", hide=lambda parts: parts[:1] == ["secret"])


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({}, [ConfigProblem("p.token_url", "required, but missing")]),
        (
            {"token_url": "u", "tokn_url": "u"},
            [ConfigProblem("p.tokn_url", "unknown key (did you mean 'token_url'?)")],
        ),
        (
            {"token_url": "u", "scopes": []},
            [ConfigProblem("p.scopes", "expected at least 1 item(s)")],
        ),
        (
            {"token_url": "u", "params": {"a": 1, "b": 2}},
            [ConfigProblem("p.params", "expected a mapping, got 2 keys")],
        ),
        (
            {"token_url": "u", "auth": {}},
            [ConfigProblem("p.auth", "needs one of a, b, but has none")],
        ),
        (
            {"token_url": "u", "either": {}},
            [ConfigProblem("p.either.env", "required, but missing")],
        ),
        (
            {"token_url": 3, "secret": 12345},
            [
                ConfigProblem(
                    "p.secret",
                    "expected a string, got an integer (value hidden: this key holds a secret)"
                    + QUOTE,
                ),
                ConfigProblem("p.token_url", "expected a string, got 3" + QUOTE),
            ],
        ),
    ],
)
def test_each_validator_is_said_its_own_way(
    instance: dict[str, Any], expected: list[ConfigProblem]
) -> None:
    assert problems(instance) == expected


def test_a_refused_key_is_said_by_its_description() -> None:
    schema = {
        "type": "object",
        "dependentSchemas": {
            "cloud": {
                "properties": {"host": {"not": {}, "description": "cloud or host, not both"}}
            },
        },
    }
    assert validate({"cloud": "c", "host": "h"}, schema, base="p") == [
        ConfigProblem("p.host", "cloud or host, not both")
    ]
    # Without a description, the general form.
    bare = {"properties": {"host": {"not": {}}}}
    assert validate({"host": "h"}, bare, base="p") == [
        ConfigProblem("p.host", "expected a valid value, got 'h'")
    ]
