"""Reading the config file's YAML (``safe_load`` only); :mod:`.discover` finds the file.

Two bounds keep a hostile file from costing the reader its memory: a config larger than
:data:`MAX_CONFIG_BYTES` is refused before it is parsed, and aliases (``*name``) may expand
the document to at most :data:`MAX_EXPANDED_NODES` nodes, counted over the node graph
without expanding anything (an alias is the same object, built once, so a "billion laughs"
file of a few hundred bytes is refused at once, while ordinary anchors for shared blocks
work as before).

A key written twice in one mapping (a repeated ``client_id:``, a profile written twice) is
an error naming both lines: PyYAML keeps the last one silently. The C parser (libyaml) is
used when it is installed, as it is several times faster.

The values are built in one pass over the node tree that also counts the nodes, spots a
repeated key and keeps the marks (line and column) in a compact copy of the document's
shape, with the cyclic garbage collector paused (the node tree is hundreds of thousands of
objects, which it would otherwise scan again and again). Each value is what PyYAML's safe
loader makes of it: a plain string is the node's text, any other scalar goes to
SafeConstructor's own constructor for its tag, an alias is the same object. Anything else
(a merge key ``<<``, ``!!set`` and the other tagged collections, a repeated key, a bound
crossed, a very deep document) leaves the document to PyYAML's construction and the checks
below, exactly as before, errors included.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import yaml

from tokenrack.config.discover import discover_config_path, search_paths
from tokenrack.config.marks import Marks, join_path, where
from tokenrack.config.parsed import MAX_CONFIG_BYTES, ConfigDocument, read_config_text, too_large
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


MAX_EXPANDED_NODES = 1_000_000
"""The most YAML nodes a document may hold once every alias is expanded."""

logger = get_logger("tokenrack.config")

# The C parser when libyaml is there: the same nodes and marks, built much faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    f"tag:yaml.org,2002:{name}": yaml.constructor.SafeConstructor.yaml_constructors[
        f"tag:yaml.org,2002:{name}"
    ]
    for name in ("null", "bool", "int", "float", "binary", "timestamp")
}
_MAX_DEPTH = 100  # deeper documents go to the iterative checks and PyYAML's construction
_MAPPING, _SEQUENCE = "mapping", "sequence"  # a shape's first item
_COLUMN_BITS = 24  # a mark is ``line << 24 | column``: a column is below MAX_CONFIG_BYTES


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


class _UnusualError(Exception):
    """What the one-pass construction leaves to PyYAML and the full checks."""


class _Construction:
    """The values of a node tree as PyYAML's safe loader builds them, with their marks.

    Each collection also yields its *shape*: for a mapping ``[_MAPPING, key, mark, shape,
    key, mark, shape, ...]``, for a sequence ``[_SEQUENCE, mark, shape, ...]`` (a scalar's
    shape is None), from which :class:`ShapeMarks` answers where a path was written.

    Args:
        loader: The loader that composed the tree (SafeConstructor's constructors use it).
        shared: Whether the text may hold aliases (``*``): then every node is remembered,
            so that an alias is the same object and its expanded size is counted.
    """

    def __init__(self, loader: Any, *, shared: bool) -> None:
        self._loader = loader
        self._memo: dict[int, tuple[Any, Any, int]] | None = {} if shared else None
        self._open: set[int] = set()

    def build(self, root: yaml.Node) -> tuple[Any, Any, int]:
        """The value, shape and expanded node count of ``root``.

        Raises:
            _UnusualError: Anything but plain mappings, sequences and the safe scalars; a
                repeated key; a node that contains itself; a very deep document.
        """
        return self._node(root, 0)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        make = _SCALARS.get(tag)
        if make is None:
            raise _UnusualError  # ``<<``, ``!!set``-like tags, a local tag: PyYAML decides
        return make(self._loader, node)

    def _node(self, node: yaml.Node, depth: int) -> tuple[Any, Any, int]:
        memo = self._memo
        if memo is None:
            if node.__class__ is yaml.ScalarNode:
                return self._scalar(node), None, 1
            return self._collection(node, depth)
        found = memo.get(id(node))
        if found is not None:
            return found
        if id(node) in self._open:
            raise _UnusualError  # a recursive alias: over the bound
        if node.__class__ is yaml.ScalarNode:
            built: tuple[Any, Any, int] = (self._scalar(node), None, 1)
        else:
            self._open.add(id(node))
            built = self._collection(node, depth)
            self._open.discard(id(node))
        memo[id(node)] = built
        return built

    def _collection(self, node: yaml.Node, depth: int) -> tuple[Any, Any, int]:
        if depth > _MAX_DEPTH:
            raise _UnusualError
        cls, pairs = node.__class__, node.value
        size = 1
        if cls is yaml.MappingNode and node.tag == _MAP:
            data: dict[Any, Any] = {}
            shape: list[Any] = [_MAPPING]
            written: set[tuple[str, str]] | None = None  # non-string keys, as :func:`_duplicate`
            for key_node, value_node in pairs:
                if key_node.__class__ is not yaml.ScalarNode:
                    raise _UnusualError  # a collection as a key: PyYAML refuses it
                if key_node.tag == _STR:
                    key = key_node.value
                else:
                    written = written if written is not None else set()
                    twin = (key_node.tag, key_node.value)
                    if twin in written:
                        raise _UnusualError
                    written.add(twin)
                    key = self._scalar(key_node)
                value, inner, count = self._node(value_node, depth + 1)
                data[key] = value
                mark = key_node.start_mark
                shape += (key_node.value, mark.line << _COLUMN_BITS | mark.column, inner)
                size += 1 + count
            if len(data) != len(pairs):
                raise _UnusualError  # a key written twice: :func:`_walk` names both lines
            return data, shape, size
        if cls is yaml.SequenceNode and node.tag == _SEQ:
            items: list[Any] = []
            shape = [_SEQUENCE]
            for item in pairs:
                value, inner, count = self._node(item, depth + 1)
                items.append(value)
                mark = item.start_mark
                shape += (mark.line << _COLUMN_BITS | mark.column, inner)
                size += count
            return items, shape, size
        raise _UnusualError


class ShapeMarks(Marks):
    """:class:`Marks` read from a document's shape (see :class:`_Construction`), no nodes.

    Args:
        shape: The root's shape (None: a scalar document).
    """

    def __init__(self, shape: Any) -> None:
        super().__init__(None)
        self._shape = shape

    def settle(self) -> ShapeMarks:
        """Nothing to let go of: the shape holds keys and positions, never a value."""
        return self

    def of(self, path: str) -> tuple[int, int] | None:
        """Line and column (from 1) of ``path``, or of its closest written ancestor."""
        if self._marks is None:
            self._marks = _shape_marks(self._shape)
            self._shape = None
        return super().of(path)


def _shape_marks(shape: Any) -> dict[str, tuple[int, int]]:
    """Every path's mark, as :func:`tokenrack.config.marks._collect` finds it in the nodes."""
    marks: dict[str, tuple[int, int]] = {}
    stack: list[tuple[Any, str]] = [(shape, "")] if shape is not None else []
    seen: set[int] = set()
    low = (1 << _COLUMN_BITS) - 1
    while stack:
        part, path = stack.pop()
        if id(part) in seen:
            continue  # an alias: its first place is the one named
        seen.add(id(part))
        step = 3 if part[0] == _MAPPING else 2
        for index, at in enumerate(range(1, len(part), step)):
            if step == 3:
                inner = join_path(path, [str(part[at])])
                mark, child = part[at + 1], part[at + 2]
            else:
                inner = join_path(path, [index])
                mark, child = part[at], part[at + 1]
            marks.setdefault(inner, ((mark >> _COLUMN_BITS) + 1, (mark & low) + 1))
            if child is not None:
                stack.append((child, inner))
    return marks


def _load(text: str, *, source: str) -> ConfigDocument:
    loader = _Loader(text)
    collecting = gc.isenabled()
    gc.disable()  # see the module's docstring; nothing built here is cyclic
    try:
        node = loader.get_single_node()
        if node is None:
            return ConfigDocument(source, None)
        try:
            data, shape, size = _Construction(loader, shared="*" in text).build(node)
        except Exception:  # PyYAML's own path below decides, errors included
            return _load_checked(loader, node, source)
        if size > MAX_EXPANDED_NODES:
            return _load_checked(loader, node, source)
        del node  # the tree goes now, not when the caller is done
        return ConfigDocument(source, data, ShapeMarks(shape))
    finally:
        loader.dispose()
        if collecting:
            gc.enable()


def _load_checked(loader: Any, node: yaml.Node, source: str) -> ConfigDocument:
    """The document through the full checks and PyYAML's own construction."""
    size = _plain_size(node)
    if (_walk(node, source) if size is None else size) > MAX_EXPANDED_NODES:
        raise ConfigError(
            f"the YAML expands to more than {MAX_EXPANDED_NODES} nodes through its aliases "
            "(*name); write the shared parts once, or use defaults or extends",
            file=source,
        )
    return ConfigDocument(source, loader.construct_document(node), Marks(node))


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
        raise ConfigError(too_large(), file=source)
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
    _, text = read_config_text(name)
    logger.info("using config %s", name)
    return parse_document(text, source=name)
