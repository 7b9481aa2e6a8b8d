"""The one-pass YAML construction (issue 15) builds exactly what PyYAML's safe loader builds.

Every YAML document of the repository (config files, the examples, each ``yaml`` block of
the docs) and a set of hand-written corner cases are read both ways and compared value by
value, type by type; the marks kept for messages are compared with the node tree's.
"""

from __future__ import annotations

import datetime
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenrack.config import document
from tokenrack.config.document import parse_document, parse_yaml
from tokenrack.config.marks import _collect
from tokenrack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _repository_documents() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for pattern in ("config/**/*.y*ml", "docs/**/*.y*ml", "tests/**/*.y*ml", "*.y*ml"):
        for path in sorted(ROOT.glob(pattern)):
            if "node_modules" not in path.parts:
                found.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    for path in sorted([*ROOT.glob("docs/**/*.md"), ROOT / "README.md"]):
        text = path.read_text(encoding="utf-8")
        for index, block in enumerate(_FENCE.findall(text)):
            found.append((f"{path.relative_to(ROOT)}#{index}", block))
    return found


REPOSITORY = _repository_documents()

CORNERS = {
    "ints": "a: 0x1F\nb: 0o17\nc: 017\nd: 1_000\ne: 190:20:30\nf: -0b101\ng: +12\nh: 0\n",
    "floats": "a: .inf\nb: -.Inf\nc: .nan\nd: 1e3\ne: 6.8523015e+5\nf: 190:20:30.15\ng: 1_0.5\n",
    "bools": "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: y\nh: n\n",
    "nulls": "a: ~\nb: null\nc:\nd: Null\n~: x\n",
    "timestamps": (
        "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\n"
        "d: 2001-12-15T02:59:43.1Z\n2002-01-01: key\n"
    ),
    "strings": (
        "a: '1'\nb: \"yes\"\nc: !!str 12\nd: |\n  two\n  lines\ne: >\n  folded\n  text\n"
        "f: 'it''s'\ng: \"tab\\there\"\nh: plain text, with a comma\n"
    ),
    "unicode": "clé: 'é'\n名前: 値\nemoji: \"\\U0001F600\"\n'ünï': [ß, ø]\n",
    "anchors": (
        "base: &b {timeout: 5, scopes: [a, b]}\nuse: *b\nlist: &l [1, 2]\n"
        "again: [*l, *l]\nscalar: &s text\nsame: *s\n"
    ),
    "merge": "base: &b {x: 1, y: 2}\nmore:\n  <<: *b\n  y: 3\nboth: {<<: [*b, {z: 4}]}\n",
    "binary": "data: !!binary aGVsbG8gd29ybGQ=\n",
    "set": "s: !!set {a, b, c}\n",
    "omap": "o: !!omap [{a: 1}, {b: 2}]\n",
    "pairs": "p: !!pairs [{a: 1}, {a: 2}]\n",
    "explicit tags": "a: !!int '42'\nb: !!float '1'\nc: !!bool 'yes'\nd: !!null ''\n",
    "empty": "",
    "comment only": "# nothing here\n",
    "explicit end": "---\na: 1\n...\n",
    "scalar root": "just text\n",
    "sequence root": "- 1\n- [2, 3]\n- {a: b}\n- - nested\n",
    "empty collections": "a: {}\nb: []\nc: [{}, []]\n",
    "keys of other types": "1: int\n1.5: float\ntrue: bool\n'1': str\n2001-01-01: date\n",
    "equal keys of two types": "1: a\n0x1: b\n",
    "bool and int keys": "yes: a\n1: b\n",
    "nan keys": ".nan: a\n.NaN: b\n",
    "long keys": "? a\n: 1\n? [x, y]\n: 2\n",
    "deep": "a: " + "[" * 150 + "x" + "]" * 150 + "\n",
    "flow": "{a: [1, {b: c}], d: e}\n",
    "profile": (
        "version: 1\ndefaults:\n  timeout: {connect: 2, read: 5}\nprofiles:\n  base:\n"
        "    provider: generic\n    token_url: https://idp.example/token\n"
        "    client_id: base\n    client_secret: {env: BASE}\n  t1:\n    extends: base\n"
        "    scopes: [api.read, tenant.1]\n"
    ),
}


def _same(ours: Any, theirs: Any) -> bool:
    """Equal value by value with the same types (1, 1.0 and True are all different)."""
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, float):
        return (math.isnan(ours) and math.isnan(theirs)) or ours == theirs
    if isinstance(ours, dict):
        if len(ours) != len(theirs):
            return False
        pairs = list(zip(ours.items(), theirs.items(), strict=True))
        return all(_same(a, c) and _same(b, d) for (a, b), (c, d) in pairs)
    if isinstance(ours, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, datetime.datetime):
        return ours == theirs and ours.tzinfo == theirs.tzinfo
    return bool(ours == theirs)


def _pyyaml(text: str) -> tuple[Any, Exception | None]:
    try:
        return yaml.load(text, Loader=document._Loader), None
    except yaml.YAMLError as error:
        return None, error


def _check(name: str, text: str) -> None:
    theirs, failed = _pyyaml(text)
    if failed is not None:
        with pytest.raises(ConfigError):
            parse_yaml(text, source=name)
        return
    try:
        ours = parse_yaml(text, source=name)
    except ConfigError as error:
        # Only what tokenrack refuses on purpose: a key written twice (PyYAML keeps the
        # last one).
        assert "is written twice" in str(error), (name, error)
        return
    assert _same(ours, theirs), name


@pytest.mark.parametrize(("name", "text"), REPOSITORY, ids=[name for name, _ in REPOSITORY])
def test_every_yaml_document_of_the_repository_is_built_as_pyyaml_builds_it(
    name: str, text: str
) -> None:
    _check(name, text)


@pytest.mark.parametrize("case", sorted(CORNERS))
def test_corner_cases_are_built_as_pyyaml_builds_them(case: str) -> None:
    _check(case, CORNERS[case])


def test_the_repository_documents_were_found() -> None:
    names = [name for name, _ in REPOSITORY]
    assert "config/demo.yaml" in names
    assert any(name.startswith("docs/configuration.md#") for name in names)


def _construct(text: str) -> tuple[Any, Any, int]:
    loader = document._Loader(text)
    try:
        return document._Construction(loader, shared="*" in text).build(loader.get_single_node())
    finally:
        loader.dispose()


@pytest.mark.parametrize(
    "case",
    ["ints", "floats", "bools", "nulls", "timestamps", "strings", "unicode", "anchors", "binary"],
)
def test_ordinary_documents_take_the_one_pass_construction(case: str) -> None:
    data, _, _ = _construct(CORNERS[case])
    theirs, _ = _pyyaml(CORNERS[case])
    assert _same(data, theirs)


@pytest.mark.parametrize(
    "case", ["merge", "set", "omap", "pairs", "deep", "long keys", "equal keys of two types"]
)
def test_unusual_documents_are_left_to_pyyaml(case: str) -> None:
    with pytest.raises(document._UnusualError):
        _construct(CORNERS[case])


def test_an_alias_is_the_same_object_as_its_anchor() -> None:
    data = parse_yaml(CORNERS["anchors"], source="anchors.yaml")
    assert data["use"] is data["base"]
    assert data["again"][0] is data["again"][1] is data["list"]


def test_expanded_size_counts_each_alias_again() -> None:
    _, _, size = _construct("a: &a [x, y]\nb: [*a, *a]\n")
    # root, 2 keys, a (3 nodes), b (1 + 2 x 3): the size the alias bound is about
    assert size == 1 + 2 + 3 + 7


@pytest.mark.parametrize(
    "case", ["profile", "anchors", "unicode", "sequence root", "empty collections", "flow"]
)
def test_marks_are_those_of_the_node_tree(case: str) -> None:
    text = CORNERS[case]
    loader = document._Loader(text)
    try:
        expected = _collect(loader.get_single_node())
    finally:
        loader.dispose()
    marks = parse_document(text, source="x.yaml").marks
    assert isinstance(marks, document.ShapeMarks)
    for path in [*expected, "", "nowhere", "profiles.t1.nowhere"]:
        assert marks.of(path) == (expected.get(path) or _ancestor(expected, path)), path


def _ancestor(marks: dict[str, tuple[int, int]], path: str) -> tuple[int, int] | None:
    while path:
        cut = max(path.rfind("."), path.rfind("["))
        path = path[: max(cut, 0)]
        if path in marks:
            return marks[path]
    return marks.get("")


def test_a_loaded_document_holds_no_node() -> None:
    marks = parse_document(CORNERS["profile"], source="x.yaml").marks
    assert marks._root is None
    assert marks.settle() is marks
    assert marks.of("profiles.t1.scopes[1]") == (12, 24)
    assert not any(isinstance(part, yaml.Node) for part in _flatten(marks))


def _flatten(marks: Any) -> list[Any]:
    found: list[Any] = []
    stack = [vars(marks) if hasattr(marks, "__dict__") else {}]
    stack.append({"shape": marks._shape, "marks": marks._marks})
    while stack:
        item = stack.pop()
        found.append(item)
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            stack += item
    return found


def test_the_collector_runs_again_once_loading_is_done() -> None:
    import gc

    assert gc.isenabled()
    parse_yaml(CORNERS["profile"], source="x.yaml")
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        parse_yaml("a: [", source="x.yaml")
    assert gc.isenabled()
