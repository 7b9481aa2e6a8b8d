"""Reading the config file's YAML (``safe_load`` only); :mod:`.discover` finds the file.

Two bounds keep a hostile file from costing the reader its memory: a config larger than
:data:`MAX_CONFIG_BYTES` is refused before it is parsed, and aliases (``*name``) may expand
the document to at most :data:`MAX_EXPANDED_NODES` nodes, counted over the node graph
before anything is built (a "billion laughs" file of a few hundred bytes is refused at
once, while ordinary anchors for shared blocks work as before).
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from tokenrack.config.discover import discover_config_path, search_paths
from tokenrack.errors import ConfigError
from tokenrack.util.log import get_logger

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_NODES",
    "discover_config_path",
    "parse_yaml",
    "read_config_file",
    "search_paths",
]

MAX_CONFIG_BYTES = 1024 * 1024
"""The largest config file read (1 MiB; real ones are a few kB)."""

MAX_EXPANDED_NODES = 100_000
"""The most YAML nodes a document may hold once every alias is expanded."""

logger = get_logger("tokenrack.config")


def _expanded_size(root: yaml.Node) -> int:
    """The node count of ``root`` with every alias expanded, computed without expanding.

    An alias is the same node object reused, so each node's expanded size is computed
    once; a node that contains itself (a recursive alias) counts as over the bound.
    """
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep document must not exhaust Python's stack.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    visiting: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if children_done:
            visiting.discard(key)
            total = 1 + sum(sizes[id(child)] for child in children)
            sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
            continue
        if key in visiting:
            return MAX_EXPANDED_NODES + 1
        visiting.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in visiting:
                return MAX_EXPANDED_NODES + 1
            stack.append((child, False))
    return sizes[id(root)]


def _load(text: str, *, source: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"the YAML expands to more than {MAX_EXPANDED_NODES} nodes through its aliases "
                "(*name); write the shared parts once, or use defaults or extends",
                file=source,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text with the safe loader, within the size and alias bounds.

    Raises:
        ConfigError: The text is not valid YAML (the message gives line and column), is
            larger than :data:`MAX_CONFIG_BYTES`, or its aliases expand past
            :data:`MAX_EXPANDED_NODES`.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(), file=source)
    try:
        return _load(text, source=source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}{what} (not valid YAML)", file=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=source) from None


def _too_large() -> str:
    return f"config file is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to parse it"


def read_config_file(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """Read and parse a config file; return its name for messages and its data.

    Logs the file used at INFO. Reads at most :data:`MAX_CONFIG_BYTES` (and one byte more,
    to know it is too large).

    Raises:
        ConfigError: The file cannot be read, is too large or is not valid YAML.
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
    return name, parse_yaml(text, source=name)
