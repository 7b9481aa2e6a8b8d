"""The YAML reader's bounds (F13): aliases expand to a bounded size; anchors still work."""

from __future__ import annotations

import pytest

from tokenrack.config.document import MAX_CONFIG_BYTES, MAX_EXPANDED_NODES, parse_yaml
from tokenrack.errors import ConfigError


def test_ordinary_anchors_still_work() -> None:
    text = "base: &base {timeout: 5, scopes: [a, b]}\nuse: *base\nmore: {<<: *base, x: 1}\n"
    data = parse_yaml(text, source="anchors.yaml")
    assert data["use"] == {"timeout": 5, "scopes": ["a", "b"]}
    assert data["more"] == {"timeout": 5, "scopes": ["a", "b"], "x": 1}


def test_expansion_just_under_the_bound_loads_and_just_over_is_refused() -> None:
    items = MAX_EXPANDED_NODES // 100  # each alias of the 99-item list costs 100 nodes
    row = "r: &r [" + ", ".join(["x"] * 99) + "]\n"
    under = row + "all: [" + ", ".join(["*r"] * (items - 3)) + "]\n"
    assert len(parse_yaml(under, source="under.yaml")["all"]) == items - 3
    over = row + "all: [" + ", ".join(["*r"] * (items + 1)) + "]\n"
    with pytest.raises(ConfigError, match="over.yaml.*expands to more than"):
        parse_yaml(over, source="over.yaml")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_yaml("a: &a [x, *a]\n", source="loop.yaml")


def test_text_over_the_size_bound_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"larger than {MAX_CONFIG_BYTES // 1024} KiB"):
        parse_yaml("#" * (MAX_CONFIG_BYTES + 1), source="big.yaml")
