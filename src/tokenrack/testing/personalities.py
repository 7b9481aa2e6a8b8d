"""Finding emulator personalities by name: the ``tokenrack.personalities`` entry points.

A distribution registers each personality it ships under a short name (the vendor pack
names them after its providers)::

    [project.entry-points."tokenrack.personalities"]
    acme = "tokenrack_acme.testing:AcmePersonality"

:func:`names` lists them without importing any (``tokenrack emulator --help`` and the bash
completion use it); :func:`load` imports the one asked for, or, given an import path
``package.module:Name``, a personality nobody registered (a class, built with no
arguments, or an instance). ``rfc6749``, the emulator's own dialect, is always offered and
is not an entry point.
"""

from __future__ import annotations

import importlib
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
    """A personality with default settings, by registered name or ``module:Name`` path.

    Raises:
        PersonalityNotFoundError: Nothing is registered under ``name``, or the import
            path names nothing importable that is a personality (the message says why).
    """
    if ":" in name:
        return _by_import_path(name)
    if name == DEFAULT:
        from tokenrack.testing.personality import Personality

        return Personality()
    found = list(importlib.metadata.entry_points(group=GROUP, name=name))
    if not found:
        offered = ", ".join(names())
        raise PersonalityNotFoundError(f"no emulator personality {name!r} (available: {offered})")
    make: Callable[[], Personality] = found[0].load()
    return make()


def _by_import_path(path: str) -> Personality:
    from tokenrack.testing.personality import Personality

    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise PersonalityNotFoundError(
            f"personality {path!r}: expected an import path such as 'package.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PersonalityNotFoundError(
            f"personality {path!r}: cannot import {module_name!r} ({error})"
        ) from None
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise PersonalityNotFoundError(
                f"personality {path!r}: {module_name!r} has no {attribute!r}"
            ) from None
    if isinstance(found, Personality):
        return found
    if not (isinstance(found, type) and issubclass(found, Personality)):
        raise PersonalityNotFoundError(
            f"personality {path!r}: {attribute!r} is not a tokenrack.testing.Personality "
            "subclass or instance"
        )
    try:
        return found()
    except TypeError as error:
        raise PersonalityNotFoundError(
            f"personality {path!r}: {attribute}() needs arguments ({error}); name a "
            "module-level instance instead"
        ) from None
