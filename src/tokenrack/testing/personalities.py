"""Finding emulator personalities by name: the ``tokenrack.personalities`` entry points.

A distribution registers each personality it ships under a short name (the vendor pack
names them after its providers)::

    [project.entry-points."tokenrack.personalities"]
    acme = "tokenrack_acme.testing:AcmePersonality"

:func:`names` lists them without importing any (``tokenrack emulator --help`` and the bash
completion use it); :func:`load` imports the one asked for. ``rfc6749``, the emulator's own
dialect, is always offered and is not an entry point.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenrack.testing.personality import Personality

__all__ = ["DEFAULT", "GROUP", "PersonalityNotFoundError", "load", "names"]

GROUP = "tokenrack.personalities"
"""The entry-point group personalities are registered in."""

DEFAULT = "rfc6749"
"""The emulator's own dialect: plain RFC 6749 (:class:`~tokenrack.testing.Personality`)."""


class PersonalityNotFoundError(LookupError):
    """No personality is registered under the name asked for; the message lists them."""


def names() -> tuple[str, ...]:
    """Every personality offered: ``rfc6749`` first, then the registered ones, sorted."""
    registered = {entry.name for entry in importlib.metadata.entry_points(group=GROUP)}
    return (DEFAULT, *sorted(registered - {DEFAULT}))


def load(name: str) -> Personality:
    """A personality with default settings, by the name it is registered under.

    Raises:
        PersonalityNotFoundError: Nothing is registered under ``name``.
    """
    if name == DEFAULT:
        from tokenrack.testing.personality import Personality

        return Personality()
    found = list(importlib.metadata.entry_points(group=GROUP, name=name))
    if not found:
        offered = ", ".join(names())
        raise PersonalityNotFoundError(f"no emulator personality {name!r} (available: {offered})")
    make: Callable[[], Personality] = found[0].load()
    return make()
