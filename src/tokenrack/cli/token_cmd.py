"""``tokenrack token`` and ``tokenrack exec`` (the full path; see :mod:`.fast` for the warm one)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from tokenrack.cli import snapshot
from tokenrack.cli.common import UsageError, load_registry, profile_name
from tokenrack.cli.exec_env import child_environment, secret_variables
from tokenrack.cli.output import print_token
from tokenrack.cli.warm import remember

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tokenrack.token import Token

__all__ = ["exec_with", "run_exec", "run_token"]

_EXEC_USAGE = "exec needs a command: tokenrack exec PROFILE [--env NAME] [--keep-env] -- CMD ARGS…"


def _token(args: argparse.Namespace) -> tuple[Token, list[str]]:
    """The token, and the variables its profile's secrets are read from.

    Through a full registry, which still finds a token in the file cache.
    """
    name = profile_name(args)
    environ = snapshot.RecordingEnviron(os.environ)
    registry = load_registry(args, environ)
    token = registry.get_token(name, force_refresh=bool(getattr(args, "force_refresh", False)))
    min_ttl = getattr(args, "min_ttl", None)
    if min_ttl is not None and token.expires_in() < min_ttl:
        token = registry.get_token(name, force_refresh=True)
    remember(args, name, registry, environ)
    return token, secret_variables(registry.runtime(name).config.options, os.environ)


def _fields(token: Token) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "scopes": token.scopes,
        "extra": token.extra,
    }


def exec_with(
    argv: Sequence[str], variable: str, access_token: str, *, drop: Iterable[str] = ()
) -> int:
    """Replace this process with ``argv``, the token in ``variable``; never through a shell.

    The variables named in ``drop`` (the profile's secrets' sources, unless ``--keep-env``)
    are left out of the command's environment.
    """
    if not argv:
        raise UsageError(_EXEC_USAGE)
    environment = child_environment(
        os.environ, variable=variable, access_token=access_token, drop=drop
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], list(argv), environment)  # noqa: S606 - an argv list, no shell
    except OSError as error:
        print(f"tokenrack: cannot run {argv[0]!r}: {error.strerror}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvpe does not return


def run_token(args: argparse.Namespace) -> int:
    """Print the access token alone, as JSON, or as a header."""
    token, _ = _token(args)
    return print_token(_fields(token), as_json=args.json, as_header=args.header)


def run_exec(args: argparse.Namespace) -> int:
    """Run CMD with the token in its environment, and not the variables its secrets are in."""
    if not args.argv:
        raise UsageError(_EXEC_USAGE)
    token, secret_names = _token(args)
    drop = () if getattr(args, "keep_env", False) else secret_names
    return exec_with(args.argv, args.env, token.access_token, drop=drop)
