"""Where each value of a config file was written: line and column for messages.

The map from JSON paths to marks is built from the YAML node tree only when a message needs
it, so a valid file pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tokenrack.errors import ConfigProblem

__all__ = ["LocatedProblem", "Marks", "join_path", "where"]


def join_path(base: str, parts: Iterable[str | int]) -> str:
    """``profiles.billing`` + ``["scopes", 0]`` → ``profiles.billing.scopes[0]``."""
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def where(mark: Any) -> str:
    """A YAML mark as people count: ``line 7, column 5`` (PyYAML counts from 0)."""
    return f"line {mark.line + 1}, column {mark.column + 1}"


class LocatedProblem(ConfigProblem):
    """A :class:`ConfigProblem` that also says where in the file it was written.

    Attributes:
        line: The line, counted from 1.
        column: The column, counted from 1.
    """

    __slots__ = ("column", "line")

    def __init__(self, path: str, message: str, *, line: int, column: int) -> None:
        super().__init__(path, message)
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"{super().__str__()} [line {self.line}, column {self.column}]"


class Marks:
    """Line and column of each path in a YAML document, computed at the first question.

    Args:
        root: The document's root node (None: a config built in code, with no marks).
    """

    def __init__(self, root: Any = None) -> None:
        self._root = root
        self._marks: dict[str, tuple[int, int]] | None = None

    def settle(self) -> Marks:
        """Compute the map now, and let go of the node tree.

        The tree holds the whole document, inline secrets included, which a loaded config
        must not keep alive.
        """
        if self._marks is None and self._root is not None:
            self._marks = _collect(self._root)
        self._root = None
        return self

    def of(self, path: str) -> tuple[int, int] | None:
        """Line and column (from 1) of ``path``, or of its closest written ancestor."""
        if self._marks is None:
            if self._root is None:
                return None
            self._marks = _collect(self._root)
        while True:
            found = self._marks.get(path)
            if found is not None or not path:
                return found
            cut = max(path.rfind("."), path.rfind("["))
            path = path[: max(cut, 0)]

    def locate(self, problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
        """Each problem with the line and column of its path, where the file has one."""
        located: list[ConfigProblem] = []
        for problem in problems:
            mark = None if isinstance(problem, LocatedProblem) else self.of(problem.path)
            if mark is None:
                located.append(problem)
            else:
                line, column = mark
                located.append(
                    LocatedProblem(problem.path, problem.message, line=line, column=column)
                )
        return located


def _collect(root: Any) -> dict[str, tuple[int, int]]:
    """Every path's mark: a mapping key's own position, a list item's position."""
    import yaml

    marks: dict[str, tuple[int, int]] = {}
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue  # an alias: its first place is the one named
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                inner = join_path(path, [str(key.value)])
                marks.setdefault(inner, (key.start_mark.line + 1, key.start_mark.column + 1))
                stack.append((value, inner))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                inner = join_path(path, [index])
                marks.setdefault(inner, (item.start_mark.line + 1, item.start_mark.column + 1))
                stack.append((item, inner))
    return marks
