"""Secret values and references to where secrets live.

A :class:`Secret` holds a resolved value and never shows it: its ``repr`` is
``Secret('***')``, it cannot be pickled, and :meth:`Secret.reveal` is called only where a
request is built. A :class:`SecretRef` names where a secret lives (``{env: NAME}``,
``{file: PATH}``, …); the core resolves it lazily, at the profile's first use, through the secret
source plugin of that name.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["Secret", "SecretRef", "SecretValue"]


class Secret:
    """A secret string that never appears in a repr, str, log line or pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call only where a request is built."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __copy__(self) -> Secret:
        return self


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives, as written in the config: ``{source: argument}``.

    Attributes:
        source: The secret source plugin's name (``env``, ``file``, ``command``, …).
        argument: What the source needs to find the secret (a variable name, a path,
            an argv list); never the secret itself. For the core's ``template`` source it
            is a string with ``${VAR}`` references, interpolated at the profile's first use rather
            than at load.
    """

    source: str
    argument: Any

    def describe(self) -> str:
        """Say where the secret comes from, for messages (never its value)."""
        if self.source == "template":
            return "an interpolated value"
        return f"{self.source} {self.argument!r}"


SecretValue = Secret | SecretRef
"""What a secret option holds after loading: a literal, or a reference resolved later."""
