"""${VAR} and ${VAR:-default} interpolation."""

from __future__ import annotations

import pytest

from tokenrack.config.interpolate import InterpolationError, MissingVariableError, interpolate

ENV = {"HOST": "idp.example", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://${HOST}/t", "https://idp.example/t"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${MISSING:-}", ""),
        ("cost: $$5 and ${HOST}", "cost: $5 and idp.example"),
        ("no references $ here", "no references $ here"),
        ("${HOST:-x}${HOST}", "idp.exampleidp.example"),
    ],
)
def test_interpolation(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


def test_set_but_empty_without_default_is_empty() -> None:
    assert interpolate("[${EMPTY}]", ENV) == "[]"


def test_missing_variable_names_it_and_the_fix() -> None:
    with pytest.raises(
        MissingVariableError, match=r"NOPE is not set.*\$\{NOPE:-default\}"
    ) as caught:
        interpolate("${NOPE}", ENV)
    assert caught.value.variable == "NOPE"


@pytest.mark.parametrize("text", ["${", "abc ${HOST", "${1BAD}", "${}"])
def test_malformed_references(text: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(text, ENV)
