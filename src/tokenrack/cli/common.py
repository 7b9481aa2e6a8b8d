"""What several commands share: the registry, the profile asked for, time formatting."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry

__all__ = ["UsageError", "cli_cache", "config_path", "load_registry", "profile_name"]


class UsageError(Exception):
    """The command line asks for something impossible (exit code 2)."""


def cli_cache() -> str | dict[str, str]:
    """The cache of profiles that name none: the file cache, unless turned off.

    A CLI process lives for one call, so an in-memory cache would fetch on every call;
    ``TOKENRACK_CLI_CACHE=off`` (or a profile's own ``cache: memory``) turns that off.

    Raises:
        UsageError: ``TOKENRACK_CLI_CACHE`` holds none of its allowed values.
    """
    from tokenrack.cli.warm import cli_cache_enabled

    try:
        return {"backend": "file"} if cli_cache_enabled(os.environ) else "memory"
    except ValueError as error:
        raise UsageError(str(error)) from None


def load_registry(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Registry:
    """The registry from ``--config`` or the discovered config, with the CLI's cache.

    Args:
        args: The parsed command line.
        environ: Where ``${VAR}`` references are read (``os.environ`` when omitted).

    Raises:
        ConfigError: No config, or an invalid one.
    """
    from tokenrack.core.registry import Registry

    return Registry.from_file(config_path(args), default_cache=cli_cache(), environ=environ)


def profile_name(args: argparse.Namespace, registry: Registry | None = None) -> str:
    """The profile the command is about.

    The one named on the command line, else ``--profile`` or ``TOKENRACK_PROFILE``, else the
    config's ``default_profile`` (when ``registry`` is given).

    Raises:
        UsageError: None was given.
    """
    name: str | None = getattr(args, "profile", None) or getattr(args, "default_profile", None)
    if not name and registry is not None:
        # Registry.default_profile comes with the config key of the same name (issue 11).
        name = getattr(registry, "default_profile", None)
    if not name:
        raise UsageError(
            "no profile given: name one, use --profile or TOKENRACK_PROFILE, "
            "or set default_profile in the config"
        )
    return name


def config_path(args: argparse.Namespace) -> str:
    """The config file the command uses: ``--config``, else the discovery order.

    Raises:
        ConfigError: No config file was found.
    """
    from tokenrack.config.discover import discover_config_path

    return str(args.config) if args.config else str(discover_config_path())
