"""``${VAR}`` and ``${VAR:-default}`` in config strings, from the environment.

``$$`` is a literal ``$``. A variable that is unset and has no default is an error that
names it (:class:`MissingVariableError`); an unset variable with a default takes the
default, and so does a set but empty one, as in the POSIX shell's ``:-``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["InterpolationError", "MissingVariableError", "has_reference", "interpolate"]

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${…}`` reference is malformed."""


class MissingVariableError(InterpolationError):
    """A referenced variable is unset and has no default.

    Attributes:
        variable: The variable's name.
    """

    def __init__(self, variable: str) -> None:
        self.variable = variable
        super().__init__(
            f"environment variable {variable} is not set "
            f"(set it, or write ${{{variable}:-default}} to give a default)"
        )


def has_reference(text: str) -> bool:
    """True when ``text`` contains a ``${…}`` reference."""
    return "${" in text


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Replace every ``${VAR}``, ``${VAR:-default}`` and ``$$`` in ``text``.

    Raises:
        MissingVariableError: A variable is unset and has no default.
        InterpolationError: A reference is malformed (unclosed, or a bad name).
    """

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$$":
            return "$"
        body = match.group(1)
        if body is None:
            raise InterpolationError("unclosed ${ (write $$ for a literal $)")
        name, separator, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise InterpolationError(f"${{{body}}} is not a valid variable reference")
        value = environ.get(name)
        if value:
            return value
        if separator:
            return default
        if value is None:
            raise MissingVariableError(name)
        return value

    return _TOKEN.sub(replace, text)
