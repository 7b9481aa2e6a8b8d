"""The environment as the config reads it, behind a repr that shows none of it.

A registry keeps the mapping its ``${VAR}`` references are read from (``os.environ`` by
default), and the loaders hold it as a local. ``os.environ``'s repr prints every variable,
secrets included, and an error tracker that records a traceback's locals would send them
all on; :class:`PrivateEnviron` reads through to the same live mapping and shows only how
many variables it has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["PrivateEnviron", "private_environ"]


class PrivateEnviron(Mapping[str, str]):
    """A read-through view of an environment mapping whose repr holds no value."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)

    def __repr__(self) -> str:
        return f"PrivateEnviron(<{len(self._environ)} variables>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an environment is not pickled")


def private_environ(environ: Mapping[str, str]) -> PrivateEnviron:
    """``environ`` behind :class:`PrivateEnviron` (unchanged if it already is)."""
    return environ if isinstance(environ, PrivateEnviron) else PrivateEnviron(environ)
