"""What several commands share: the registry, the profile asked for, time formatting."""

from __future__ import annotations

import argparse
import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenrack.registry import Registry

__all__ = ["UsageError", "iso8601", "load_registry", "profile_name"]


class UsageError(Exception):
    """The command line asks for something impossible (exit code 2)."""


def load_registry(args: argparse.Namespace) -> Registry:
    """The registry from ``--config`` or the discovered config.

    Raises:
        ConfigError: No config, or an invalid one.
    """
    from tokenrack.registry import Registry

    return Registry.from_file(args.config)


def profile_name(args: argparse.Namespace) -> str:
    """The profile the command is about.

    Raises:
        UsageError: None was given.
    """
    name: str | None = getattr(args, "profile", None) or getattr(args, "default_profile", None)
    if not name:
        raise UsageError("no profile given: name one, or use --profile or TOKENRACK_PROFILE")
    return name


def iso8601(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time, to the second."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")
