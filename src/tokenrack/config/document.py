"""Reading the config file's YAML (``safe_load`` only); :mod:`.discover` finds the file.

Two bounds keep a hostile file from costing the reader its memory: a config larger than
:data:`MAX_CONFIG_BYTES` is refused before it is parsed, and aliases (``*name``) may expand
the document to at most :data:`MAX_EXPANDED_NODES` nodes, counted over the node graph
before anything is built (a "billion laughs" file of a few hundred bytes is refused at
once, while ordinary anchors for shared blocks work as before).

A key written twice in one mapping (a repeated ``client_id:``, a profile written twice) is
an error naming both lines: PyYAML keeps the last one silently. The check runs over the
node tree in the same walk as the alias bound, so it costs no second parse; the C parser
(libyaml) is used when it is installed, as it is several times faster.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from tokenrack.config.discover import discover_config_path, search_paths
from tokenrack.config.marks import Marks, join_path, where
from tokenrack.config.parsed import ConfigDocument
from tokenrack.errors import ConfigError
from tokenrack.util.log import get_logger

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_NODES",
    "ConfigDocument",
    "discover_config_path",
    "parse_document",
    "parse_yaml",
    "read_config_document",
    "read_config_file",
    "search_paths",
]

MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""The largest config file read (8 MiB: a 10,000-profile config is about 1.5-2 MiB)."""

MAX_EXPANDED_NODES = 1_000_000
"""The most YAML nodes a document may hold once every alias is expanded."""

logger = get_logger("tokenrack.config")

# The C parser when libyaml is there: the same nodes and marks, built much faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


def _duplicate(node: yaml.MappingNode, path: str, source: str) -> None:
    """Refuse a key written twice in one mapping, naming the key and both lines."""
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue  # a key that is itself a collection, or ``<<``: not a written twin
        first = seen.setdefault((key.tag, key.value), key)
        if first is not key:
            at = join_path(path, [str(key.value)])
            raise ConfigError(
                f"the key {key.value!r} is written twice in one mapping, at "
                f"{where(first.start_mark)} and {where(key.start_mark)}; "
                "YAML would keep only the last one: remove one of them",
                file=source,
                path=at,
            )


def _plain_size(root: yaml.Node) -> int | None:
    """The node count of a document without aliases or repeated keys; None otherwise.

    The common case, checked in one cheap pass (no paths built): a 10,000-profile file
    costs a fraction of :func:`_walk`, which then runs only when this cannot answer.
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return None  # reached twice: an alias
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack += node.value
        elif isinstance(node, yaml.MappingNode):
            keys = [
                (key.tag, key.value)
                for key, _ in node.value
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE
            ]
            if len(set(keys)) != len(keys):
                return None  # :func:`_walk` names the key and both lines
            for pair in node.value:
                stack += pair
    return len(seen)


def _walk(root: yaml.Node, source: str) -> int:
    """The node count of ``root`` with every alias expanded, computed without expanding.

    The same walk refuses a mapping that repeats a key. An alias is the same node object
    reused, so each node's expanded size is computed once; a node that contains itself (a
    recursive alias) counts as over the bound.

    Raises:
        ConfigError: A mapping repeats a key.
    """
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep document must not exhaust Python's stack.
    stack: list[tuple[yaml.Node, bool, str]] = [(root, False, "")]
    visiting: set[int] = set()
    while stack:
        node, children_done, path = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(item, join_path(path, [i])) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            if not children_done:
                _duplicate(node, path, source)
            for name, value in node.value:
                inner = path
                if isinstance(name, yaml.ScalarNode):
                    inner = join_path(path, [str(name.value)])
                children += [(name, inner), (value, inner)]
        if children_done:
            visiting.discard(key)
            total = 1 + sum(sizes[id(child)] for child, _ in children)
            sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
            continue
        if key in visiting:
            return MAX_EXPANDED_NODES + 1
        visiting.add(key)
        stack.append((node, True, path))
        for child, inner in children:
            if id(child) in visiting:
                return MAX_EXPANDED_NODES + 1
            stack.append((child, False, inner))
    return sizes[id(root)]


def _load(text: str, *, source: str) -> ConfigDocument:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return ConfigDocument(source, None)
        size = _plain_size(node)
        if (_walk(node, source) if size is None else size) > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"the YAML expands to more than {MAX_EXPANDED_NODES} nodes through its aliases "
                "(*name); write the shared parts once, or use defaults or extends",
                file=source,
            )
        return ConfigDocument(source, loader.construct_document(node), Marks(node))
    finally:
        loader.dispose()


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text with the safe loader, within the size and alias bounds.

    Raises:
        ConfigError: The text is not valid YAML (the message gives line and column), is
            larger than :data:`MAX_CONFIG_BYTES`, repeats a key in a mapping (both lines
            named), or its aliases expand past :data:`MAX_EXPANDED_NODES`.
    """
    return parse_document(text, source=source).data


def _char_at(text: str, line: int, column: int) -> str:
    """The character at a zero-based line and column of ``text``, or "" past its end."""
    lines = text.splitlines()
    return lines[line][column : column + 1] if line < len(lines) else ""


def parse_document(text: str, *, source: str) -> ConfigDocument:
    """:func:`parse_yaml`, keeping where each value was written (for messages).

    Raises:
        ConfigError: As :func:`parse_yaml`.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(), file=source)
    try:
        return _load(text, source=source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            what += " (a tab: YAML indents with spaces, never tabs)"
        raise ConfigError(f"{where}{what} (not valid YAML)", file=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=source) from None


def _too_large() -> str:
    return f"config file is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to parse it"


def read_config_file(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """Read and parse a config file; return its name for messages and its data.

    Raises:
        ConfigError: As :func:`read_config_document`.
    """
    document = read_config_document(path)
    return document.source, document.data


def read_config_document(path: str | os.PathLike[str]) -> ConfigDocument:
    """Read and parse a config file, keeping where each value was written.

    Logs the file used at INFO. Reads at most :data:`MAX_CONFIG_BYTES` (and one byte more,
    to know it is too large).

    Raises:
        ConfigError: The file cannot be read, is too large, is not valid YAML or repeats
            a key in a mapping.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", file=name) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(), file=name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8 text", file=name) from None
    logger.info("using config %s", name)
    return parse_document(text, source=name)
