"""The generated reference keeps up with the code: the API pages cover every public name with
a docstring, the CLI page every command and option, and the diagrams the layers and errors."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

import griffe
import pytest

from tests.conftest import without_coverage

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

# The public surface, as docs/architecture.md ("What is public") names it.
PUBLIC_MODULES = [
    "tokenrack",
    "tokenrack.errors",
    "tokenrack.token",
    "tokenrack.httpx",
    "tokenrack.cache_admin",
    "tokenrack.plugin",
    "tokenrack.testing",
    "tokenrack.testing.personality",
    "tokenrack.testing.tls",
    "tokenrack.testing.assertions",
]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference_hook", DOCS / "_hooks" / "reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


HOOK = _hook()


def _directives(texts: Iterable[str]) -> list[str]:
    return [m for text in texts for m in re.findall(r"^::: ([\w.]+)\s*$", text, re.M)]


@cache
def reference_directives() -> tuple[str, ...]:
    """Every `::: path` of the reference pages."""
    return tuple(_directives(p.read_text() for p in sorted(REFERENCE.glob("*.md"))))


def _resolve(path: str) -> Any:
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def missing_names(module_name: str, directives: Iterable[str], text: str) -> list[str]:
    """The names of a module's ``__all__`` that no directive renders (dunders: not named in text)."""
    directives = list(directives)
    rendered = {id(_resolve(d)) for d in directives}
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        value = getattr(module, name)
        if name.startswith("__"):
            found = f"`{module_name}.{name}`" in text
        elif inspect.isclass(value) or inspect.isfunction(value):
            found = id(value) in rendered
        else:  # a constant or an alias: only its own path says which one is meant
            found = f"{module_name}.{name}" in directives
        if not found:
            missing.append(name)
    return missing


def _reference_text() -> str:
    return "\n".join(p.read_text() for p in sorted(REFERENCE.glob("*.md")))


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_on_a_reference_page(module_name: str) -> None:
    assert missing_names(module_name, reference_directives(), _reference_text()) == []


def test_a_name_left_off_the_pages_is_reported() -> None:
    # The check above can fail: drop one directive and its name is missing.
    kept = [d for d in reference_directives() if d != "tokenrack.Registry"]
    assert missing_names("tokenrack", kept, _reference_text()) == ["Registry"]
    assert missing_names("tokenrack", reference_directives(), "") == ["__version__"]


def test_the_pages_render_public_modules_only_and_each_object_once() -> None:
    directives = reference_directives()
    for path in directives:
        assert path.rpartition(".")[0] in PUBLIC_MODULES, path
    objects = [id(_resolve(d)) for d in directives]
    assert len(objects) == len(set(objects)), "an object rendered twice has two anchors"


@cache
def _griffe_module(name: str) -> griffe.Object:
    loaded = griffe.load(name, search_paths=[str(ROOT / "src")], resolve_aliases=True)
    assert isinstance(loaded, griffe.Object)
    return loaded


def _griffe_object(path: str) -> griffe.Object | griffe.Alias:
    package = _griffe_module(path.split(".")[0])
    return package[path.removeprefix(package.path + ".")]


def test_every_rendered_name_has_a_docstring_as_the_reference_reads_it() -> None:
    # griffe is what mkdocstrings renders from: an empty docstring here is an empty entry.
    undocumented = [
        path
        for path in reference_directives()
        if not ((doc := _griffe_object(path).docstring) and doc.value.strip())
    ]
    assert undocumented == []


def test_the_docstring_check_sees_a_missing_docstring() -> None:
    # A module constant without a docstring (not public): griffe reports none.
    assert _griffe_object("tokenrack.auth.signing.HMAC_ALGORITHMS").docstring is None


def test_each_public_module_is_reached_from_the_reference_index() -> None:
    index = (REFERENCE / "index.md").read_text()
    for page in REFERENCE.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


# The CLI reference ---------------------------------------------------------------------


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _walk(sub, (*path, name))
    return found


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", markdown, flags=re.M)
    return {parts[i].split(" {#")[0]: parts[i + 1] for i in range(1, len(parts), 2)}


def _assert_documents(markdown: str, parser: argparse.ArgumentParser) -> None:
    sections = _sections(markdown)
    for path, sub in _walk(parser).items():
        title = f"`{' '.join(('tokenrack', *path))}`" if path else "Global options"
        assert title in sections, title
        body = sections[title].replace("\\|", "|")  # table cells escape the pipe
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(
                action, (argparse._HelpAction, argparse._SubParsersAction)
            ):
                continue
            for option in action.option_strings:
                assert re.search(rf"[` ]{re.escape(option)}[` ,]", body), (title, option)
            if not action.option_strings:
                shown = sub._get_formatter()._format_action_invocation(action)
                assert f"`{shown}`" in body, (title, shown)
            if action.help:
                first_words = re.split(r"[%(]", action.help)[0].strip()
                assert first_words in body, (title, first_words)


def test_the_cli_reference_documents_every_command_and_option() -> None:
    from tokenrack.cli.main import build_parser

    _assert_documents(HOOK.cli_reference(), build_parser())


def test_the_cli_reference_lists_every_exit_code() -> None:
    from tokenrack.cli.exit_codes import MEANINGS

    page = HOOK.cli_reference()
    for code, meaning in MEANINGS.items():
        assert f"| {code} | {meaning} |" in page
    assert re.search(r"\| 3 \| [^|]+ \|[^\n]*`InvalidClientError`", page)


def test_the_cli_reference_follows_the_parser_it_is_built_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Generated, not copied: a command and an option added to the parser show up.
    import tokenrack.cli.main

    real = tokenrack.cli.main.build_parser

    def grown() -> argparse.ArgumentParser:
        parser = real()
        (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        extra = subparsers.add_parser("frobnicate", help="frobnicate the widgets")
        extra.add_argument("--zap", metavar="N", help="zap N times, fast|slow")
        return parser

    monkeypatch.setattr(tokenrack.cli.main, "build_parser", grown)
    page = HOOK.cli_reference()
    assert "## `tokenrack frobnicate`" in page
    assert "| `--zap N` | zap N times, fast\\|slow |" in page
    _assert_documents(page, grown())


def test_the_cli_reference_does_not_depend_on_the_terminal_that_built_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = HOOK.cli_reference()
    monkeypatch.setenv("COLUMNS", "200")
    assert HOOK.cli_reference() == narrow


def test_the_reference_page_is_filled_in_by_the_hook_mkdocs_runs() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^hooks:\n  - docs/_hooks/reference\.py$", config, re.M)
    page = (REFERENCE / "cli.md").read_text()
    assert HOOK.CLI_MARKER in page
    built = HOOK.on_page_markdown(page)
    assert HOOK.CLI_MARKER not in built
    assert "## `tokenrack token`" in built


def test_sphinx_roles_in_rendered_docstrings_lose_their_prefix() -> None:
    html = "call :meth:<code>get_token</code>, see :class:<code>Token</code>; a :note: stays"
    assert (
        HOOK.on_page_content(html)
        == "call <code>get_token</code>, see <code>Token</code>; a :note: stays"
    )


# Diagrams --------------------------------------------------------------------------------


def test_the_error_tree_draws_every_error_class() -> None:
    import tokenrack.errors

    assert HOOK.ERROR_TREE_MARKER in (REFERENCE / "errors.md").read_text()
    tree = HOOK.error_tree()
    edges = set(re.findall(r"^    (\w+) --> (\w+)$", tree, re.M))
    for name in tokenrack.errors.__all__:
        value = getattr(tokenrack.errors, name)
        if inspect.isclass(value) and issubclass(value, Exception) and name != "TokenrackError":
            assert (value.__bases__[0].__name__, name) in edges


def _mermaid_after(text: str, marker: str) -> str:
    block = re.search(rf"{re.escape(marker)}\n```mermaid\n(.*?)```", text, re.S)
    assert block is not None, f"no Mermaid block after {marker}"
    return block.group(1)


def test_the_layers_diagram_draws_the_contract_and_points_down_only() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contracts["contracts"] if c["type"] == "layers"]
    diagram = _mermaid_after((DOCS / "architecture.md").read_text(), "<!-- layers-diagram -->")
    labels = dict(re.findall(r"(\w+)\[([^\]]+)\]", diagram))
    level: dict[str, int] = {}
    for index, layer in enumerate(layers):
        for name in re.split(r"[|:]", layer):
            short = name.strip().removeprefix("tokenrack.")
            nodes = [
                n
                for n, label in labels.items()
                if re.search(rf"\b{short}\b", label.split(" — ")[0])
            ]
            assert nodes, f"{name} is not drawn"
            level |= dict.fromkeys(nodes, index)
    arrows = re.findall(r"(\w+)(?:\[[^\]]*\])? --> (?:\|[^|]*\| )?(\w+)", diagram)
    assert arrows
    for source, target in arrows:
        if source in level and target in level:
            assert level[source] < level[target], f"{source} --> {target} points up"
    # No layer floats alone: each box takes part in at least one arrow.
    linked = {node for arrow in arrows for node in arrow}
    assert set(level) <= linked, set(level) - linked


@pytest.mark.parametrize(
    ("page", "marker", "must_name"),
    [
        (
            "refresh.md",
            "<!-- diagram: refresh windows -->",
            ["fresh", "early", "mandatory", "expired"],
        ),
        (
            "fleet.md",
            "<!-- diagram: one request per fleet -->",
            ["lock", "record", "token endpoint"],
        ),
        (
            "security.md",
            "<!-- diagram: trust model -->",
            ["Redis", "cache file", "token server", "config"],
        ),
        ("architecture.md", "<!-- diagram: the agent -->", ["agent", "vendor"]),
    ],
)
def test_each_page_has_its_diagram(page: str, marker: str, must_name: list[str]) -> None:
    diagram = _mermaid_after((DOCS / page).read_text(), marker)
    for word in must_name:
        assert word.lower() in diagram.lower(), (page, word)


# Benchmark charts ------------------------------------------------------------------------

RESULTS = ROOT / "benchmarks" / "results"


def _charts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_charts", ROOT / "benchmarks" / "charts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


CHARTS = _charts()
SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_a_bar_chart_draws_one_bar_per_value_to_scale() -> None:
    svg = CHARTS.bar_chart(
        "Requests <per> refresh & more", {"tokenrack": 1.0, "peer": 4.0, "other": 2.0}, unit="req"
    )
    bars = _bars(svg)
    assert [float(b.get("data-value", "")) for b in bars] == [1.0, 4.0, 2.0]
    widths = [float(b.get("width", "")) for b in bars]
    assert widths[1] == pytest.approx(4 * widths[0]) and widths[2] == pytest.approx(2 * widths[0])
    assert "Requests <per> refresh & more" in "".join(ElementTree.fromstring(svg).itertext())


def test_a_chart_without_values_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        CHARTS.bar_chart("empty", {}, unit="ms")


def test_the_committed_charts_are_drawn_from_the_committed_results(tmp_path: Path) -> None:
    import json

    for source in sorted(RESULTS.glob("*.json")):
        results = json.loads(source.read_text())
        for path in CHARTS.draw(source.stem, results, tmp_path):
            committed = RESULTS / path.name
            assert committed.exists(), f"{path.name}: run python benchmarks/charts.py"
            assert committed.read_text() == path.read_text(), f"{path.name} is stale"
            assert _bars(path.read_text())
    drawn = {p.name for p in tmp_path.glob("*.svg")}
    assert drawn == {p.name for p in RESULTS.glob("*.svg")}
    # What the brief asks to see: peers, processes and cold start.
    assert {
        "compare-cache-hit.svg",
        "fleet-requests-per-refresh.svg",
        "cli-cold-start.svg",
    } <= drawn
    fleet = json.loads((RESULTS / "fleet.json").read_text())
    assert len(_bars((RESULTS / "fleet-requests-per-refresh.svg").read_text())) == len(
        fleet["requests_per_refresh"]
    )


def test_the_performance_page_shows_every_chart() -> None:
    shown = set(re.findall(r"\]\(charts/([\w.-]+\.svg)\)", (DOCS / "performance.md").read_text()))
    assert shown == {p.name for p in RESULTS.glob("*.svg")}


def test_a_benchmark_records_its_charts_with_its_results() -> None:
    # record() in benchmarks/core.py is what every benchmark calls to save its results.
    core = (ROOT / "benchmarks" / "core.py").read_text()
    record = core[core.index("def record(") :].split("\ndef ")[0]
    assert "draw(name, results, RESULTS)" in record


# The whole site --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_site_builds_strictly_with_references_diagrams_and_charts(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("mkdocs")),
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**without_coverage(), "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    api = (site / "reference" / "tokenrack" / "index.html").read_text()
    assert 'id="tokenrack.Registry"' in api and 'id="tokenrack.get_token"' in api
    assert ":meth:<code>" not in api
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "tokenrack cache" in cli and "--force-refresh" in cli and "Exit codes" in cli
    assert '<pre class="mermaid">' in (site / "reference" / "errors" / "index.html").read_text()
    for page in ("refresh", "fleet", "security", "architecture"):
        assert '<pre class="mermaid">' in (site / page / "index.html").read_text(), page
    for chart in RESULTS.glob("*.svg"):
        assert (site / "charts" / chart.name).read_bytes() == chart.read_bytes()
    # Nothing the site needs is fetched at build time, and no web font is asked for.
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
