"""Reading the samples out of a docs page: fenced blocks and the markers before them.

A sample is a fenced ``python`` block, or a fenced ``yaml`` block that is a whole config
(it has a top-level ``version:``). A page that asks for more (``samples(path, shell=True,
fragments=True)``) also has these samples:

- every ``sh``, ``bash``, ``console``, ``zsh`` or ``fish`` block (a shell sample; lines
  starting ``$ `` are its commands and the lines after them their output, when it has any);
- every other ``yaml`` block that is a mapping (a config fragment: profiles, a ``cache:`` or
  ``defaults:`` mapping, or some keys of one profile, wrapped into a whole config to load).
  A ``yaml`` block that is not a mapping has no outcome: it must be marked ``skip`` or
  ``other``, or reading the page fails.

HTML comments right above a fence steer it:

- ``<!-- sample: skip (why) -->``: not run; the reason is required and is reported.
- ``<!-- sample: continues -->``: runs in the namespace of the page's previous python
  sample (a walkthrough told in several blocks).
- ``<!-- sample: module NAME -->``: runs, and is importable as ``NAME`` by the page's
  later samples (``from tokenrack_acme import AcmeProvider``).
- ``<!-- sample: file NAME -->``: a yaml config that is also written to ``NAME`` in the
  working directory, for the page's later samples (``Registry.from_file("tokenrack.yaml")``).
- ``<!-- sample: raises NAME -->``: must raise an exception of a class called ``NAME``
  (or a subclass); for an invalid config shown on purpose.
- ``<!-- sample: exit N -->``: a shell sample that must end with exit status ``N`` (0
  otherwise).
- ``<!-- sample: other (what it is) -->``: a block in a sample language that is not a
  tokenrack sample (a kubeconfig, a manifest); not run, counted and reported.

Other fences (``toml``, ``text``, ``json``; shell and fragments on pages that do not ask
for them) are not samples.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*sample:\s*(?P<body>.*?)\s*-->\s*$")
COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
SKIP = re.compile(r"^skip\s*\((?P<reason>.+)\)$")
MODULE = re.compile(r"^module\s+(?P<name>[A-Za-z_][\w.]*)$")
RAISES = re.compile(r"^raises\s+(?P<name>[A-Za-z_]\w*)$")
FILE = re.compile(r"^file\s+(?P<name>[\w.-]+)$")
EXIT = re.compile(r"^exit\s+(?P<status>\d+)$")
OTHER = re.compile(r"^other\s*\((?P<what>.+)\)$")
SHELL_LANGS = frozenset({"sh", "bash", "console", "zsh", "fish"})


class MarkerError(ValueError):
    """A ``<!-- sample: … -->`` marker that means nothing (or a skip without a reason)."""


@dataclass
class Block:
    """One fenced block: where it starts, its language, code and markers."""

    page: str
    line: int
    lang: str
    code: str
    skip: str | None = None
    continues: bool = False
    module: str | None = None
    raises: str | None = None
    file: str | None = None
    exit: int = 0
    other: str | None = None

    @property
    def is_sample(self) -> bool:
        """A python block, or a yaml block that is a whole config."""
        return self.kind(shell=False, fragments=False) is not None

    def kind(self, *, shell: bool, fragments: bool) -> str | None:
        """``python``, ``config``, ``fragment``, ``shell``, or None for a block that is not a sample.

        Raises:
            MarkerError: A yaml block (with ``fragments``) that is not a mapping and is
                marked neither ``skip`` nor ``other``: it would have no outcome.
        """
        if self.lang == "python":
            return "python"
        if self.lang == "yaml" and re.search(r"^version:", self.code, re.M) is not None:
            return "config"
        if shell and self.lang in SHELL_LANGS:
            return "shell"
        if fragments and self.lang == "yaml":
            if self.skip is None and self.other is None and not self.is_mapping:
                raise MarkerError(
                    f"{self.where}: a yaml block that is neither a config nor a mapping of "
                    "one has no outcome: mark it 'skip (reason)' or 'other (what it is)'"
                )
            return "fragment"
        return None

    @property
    def is_mapping(self) -> bool:
        """The block is YAML whose top level is a non-empty mapping."""
        try:
            loaded = yaml.safe_load(self.code)
        except yaml.YAMLError:
            return False
        return isinstance(loaded, dict) and bool(loaded)

    @property
    def commands(self) -> str:
        """A shell block's script: its ``$ `` lines when it has any, else all of it."""
        prompts = [line[2:] for line in self.code.splitlines() if line.startswith("$ ")]
        return "\n".join(prompts) + "\n" if prompts else self.code

    @property
    def where(self) -> str:
        """``page:line`` of the opening fence."""
        return f"{self.page}:{self.line}"


@dataclass
class Sample:
    """A python block and the blocks that continue it, or one yaml config."""

    blocks: list[Block] = field(default_factory=list)
    kind: str = "python"

    @property
    def first(self) -> Block:
        """The block the sample starts with (its markers decide skip and module)."""
        return self.blocks[0]

    @property
    def id(self) -> str:
        """A test id: the page and the first block's line."""
        return self.first.where


def _markers(lines: list[str], fence: int) -> list[str]:
    """The ``sample:`` markers in the comments (and blank lines) right above ``fence``."""
    found: list[str] = []
    index = fence - 1
    while index >= 0 and (not lines[index].strip() or COMMENT.match(lines[index])):
        marker = MARKER.match(lines[index])
        if marker:
            found.append(marker.group("body"))
        index -= 1
    return found


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of a page, in order, with its markers applied.

    Raises:
        MarkerError: A marker is unknown, or a skip gives no reason.
    """
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or not opening.group("lang"):
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        block = Block(
            page=path.name,
            line=index + 1,
            lang=opening.group("lang"),
            code=textwrap.dedent("\n".join(lines[index + 1 : end])) + "\n",
        )
        for body in _markers(lines, index):
            skip, module, raises = SKIP.match(body), MODULE.match(body), RAISES.match(body)
            file, status, other = FILE.match(body), EXIT.match(body), OTHER.match(body)
            if raises:
                block.raises = raises.group("name")
            elif file:
                block.file = file.group("name")
            elif skip:
                block.skip = skip.group("reason").strip()
            elif body == "continues":
                block.continues = True
            elif module:
                block.module = module.group("name")
            elif status:
                block.exit = int(status.group("status"))
            elif other:
                block.other = other.group("what").strip()
            else:
                raise MarkerError(
                    f"{block.where}: unknown marker <!-- sample: {body} --> (expected "
                    "'skip (reason)', 'continues', 'module NAME', 'file NAME', 'raises NAME', "
                    "'exit N' or 'other (what it is)')"
                )
        blocks.append(block)
        index = end + 1
    return blocks


def samples(path: Path, *, shell: bool = False, fragments: bool = False) -> list[Sample]:
    """The page's samples: python blocks chained by ``continues``, and whole configs.

    Args:
        path: The page.
        shell: Also its ``sh``/``bash``/``console`` blocks.
        fragments: Also its yaml blocks that are not whole configs.

    Raises:
        MarkerError: A marker is unknown, a skip gives no reason, or a block has no outcome.
    """
    found: list[Sample] = []
    last_python: Sample | None = None
    for block in read_blocks(path):
        kind = block.kind(shell=shell, fragments=fragments)
        if kind is None:
            continue
        if block.lang == "python" and block.continues:
            if last_python is None:
                raise MarkerError(f"{block.where}: 'continues' but no python sample before it")
            last_python.blocks.append(block)
            continue
        sample = Sample([block], kind)
        found.append(sample)
        if block.lang == "python":
            last_python = sample
    return found
