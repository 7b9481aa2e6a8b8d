"""A mkdocs hook: pages generated from the code at build time, so they cannot drift from it.

- ``<!-- cli-reference -->`` becomes the reference of the ``tokenrack`` command, read from
  ``tokenrack.cli.main.build_parser()`` (every command, option and help text ``--help``
  shows) and the exit codes of ``tokenrack.cli.exit_codes``.
- ``<!-- error-tree -->`` becomes a Mermaid drawing of the classes in ``tokenrack.errors``.
- Sphinx roles in docstrings (``:meth:`get_token```) lose their role prefix, which
  mkdocstrings would otherwise print as it is.
- The benchmark charts (``benchmarks/results/*.svg``, drawn by ``benchmarks/charts.py``) are
  published as ``charts/<name>.svg``, so docs/performance.md shows the files ``make bench``
  wrote, not copies of them.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

CLI_MARKER = "<!-- cli-reference -->"
ERROR_TREE_MARKER = "<!-- error-tree -->"
USAGE_WIDTH = 88


def chart_sources(config: MkDocsConfig) -> list[Path]:
    """The SVG charts of the benchmarks, beside their results JSON."""
    root = Path(config.config_file_path).resolve().parent
    return sorted((root / "benchmarks" / "results").glob("*.svg"))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Publish the benchmark charts under ``charts/`` (the mkdocs ``on_files`` event)."""
    for chart in chart_sources(config):
        files.append(File.generated(config, f"charts/{chart.name}", abs_src_path=str(chart)))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Fill in the markers of a page (the mkdocs ``on_page_markdown`` event)."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if ERROR_TREE_MARKER in markdown:
        markdown = markdown.replace(ERROR_TREE_MARKER, error_tree())
    return markdown


_SPHINX_ROLE = re.compile(r":(?:attr|class|data|exc|func|meth|mod|obj):(?=<code>)")


def on_page_content(html: str, **_: Any) -> str:
    """Drop the Sphinx role prefixes of rendered docstrings (the ``on_page_content`` event)."""
    return _SPHINX_ROLE.sub("", html)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every command under ``parser`` (itself first), with its path and its one-line help."""
    yield path, parser, parser.description or ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                for found in commands(sub, (*path, name)):
                    if found[0] == (*path, name):
                        yield found[0], found[1], helps.get(name, "")
                    else:
                        yield found


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments and options of one command as ``--help`` lists them (not -h, not hidden)."""
    return [
        action
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    invocation = formatter._format_action_invocation(action)
    described = formatter._expand_help(action) if action.help else ""
    # A metavar hides the choices from the usage line: name them, unless the help does.
    if action.choices is not None and action.metavar and "%(choices)" not in (action.help or ""):
        described = f"{described} (one of: {', '.join(map(str, action.choices))})".strip()
    shown = action.default not in (None, False, argparse.SUPPRESS)
    if shown and not isinstance(action, argparse._CountAction) and "default" not in described:
        described = f"{described} (default: `{action.default}`)".strip()
    if action.required and action.option_strings:
        described += " (required)"
    return f"| `{_cell(invocation)}` | {_cell(described)} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    # A fixed width, so the page does not depend on the terminal that built it.
    try:
        formatter = parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)  # type: ignore[call-arg]
    except TypeError:  # a formatter class that takes no width: the terminal's, then
        formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip()


def _command_section(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str
) -> list[str]:
    title = " ".join(("tokenrack", *path))
    lines = [f"## `{title}`" if path else "## Global options", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ("" if summary.endswith(".") else "."), ""]
    usage = _usage(parser)
    lines += ["```text", usage, "```", ""]
    actions = documented_actions(parser)
    if actions:
        lines += ["| argument or option | what it does |", "| --- | --- |"]
        lines += [_row(parser, action) for action in actions]
        lines.append("")
    return lines


def cli_reference() -> str:
    """The reference of the ``tokenrack`` command, in Markdown."""
    from tokenrack.cli.main import build_parser

    parser = build_parser()
    found = list(commands(parser))
    lines = ["| command | what it does |", "| --- | --- |"]
    for path, _, summary in found[1:]:
        anchor = "tokenrack-" + "-".join(path)
        lines.append(f"| [`tokenrack {' '.join(path)}`](#{anchor}) | {_cell(summary)} |")
    lines.append("")
    for path, sub, summary in found:
        section = _command_section(path, sub, summary)
        if path:
            section[0] = f"{section[0]} {{#tokenrack-{'-'.join(path)}}}"
        lines += section
    lines += ["## Exit codes", "", exit_code_table()]
    return "\n".join(lines)


def exit_code_table() -> str:
    """Each exit code, what it means, and which errors of ``tokenrack.errors`` end with it."""
    from tokenrack import errors
    from tokenrack.cli.exit_codes import MEANINGS, exit_code

    by_code: dict[int, list[str]] = {code: [] for code in MEANINGS}
    for cls in _error_classes(errors):
        # isinstance is all exit_code looks at: an instance needs no arguments for that.
        by_code.setdefault(exit_code(cls.__new__(cls)), []).append(cls.__name__)
    lines = ["| code | meaning | errors |", "| --- | --- | --- |"]
    for code, meaning in sorted(MEANINGS.items()):
        named = ", ".join(f"`{name}`" for name in by_code.get(code, []))
        lines.append(f"| {code} | {meaning} | {named or '—'} |")
    return "\n".join(lines) + "\n"


def _error_classes(module: Any) -> list[type[BaseException]]:
    return [
        value
        for name in module.__all__
        if inspect.isclass(value := getattr(module, name)) and issubclass(value, BaseException)
    ]


def error_tree() -> str:
    """A Mermaid class tree of every exception in ``tokenrack.errors``."""
    from tokenrack import errors

    lines = ["```mermaid", "flowchart LR"]
    for cls in _error_classes(errors):
        if cls is errors.TokenrackError:
            continue
        parent = next(base for base in cls.__bases__ if issubclass(base, BaseException))
        lines.append(f"    {parent.__name__} --> {cls.__name__}")
    lines.append("```")
    return "\n".join(lines) + "\n"
