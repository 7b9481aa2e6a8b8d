"""``tokenrack token`` and ``tokenrack exec`` (the full path; see :mod:`.fast` for the warm one)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from tokenrack.cli import snapshot
from tokenrack.cli.common import UsageError, load_registry, profile_name
from tokenrack.cli.output import print_token
from tokenrack.cli.warm import remember

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tokenrack.token import Token

__all__ = ["exec_with", "run_exec", "run_token"]


def _token(args: argparse.Namespace) -> Token:
    """The token through a full registry (which still finds a token in the file cache)."""
    name = profile_name(args)
    environ = snapshot.RecordingEnviron(os.environ)
    registry = load_registry(args, environ)
    token = registry.get_token(name, force_refresh=bool(getattr(args, "force_refresh", False)))
    min_ttl = getattr(args, "min_ttl", None)
    if min_ttl is not None and token.expires_in() < min_ttl:
        token = registry.get_token(name, force_refresh=True)
    remember(args, name, registry, environ)
    return token


def _fields(token: Token) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "scopes": token.scopes,
        "extra": token.extra,
    }


def exec_with(argv: Sequence[str], variable: str, access_token: str) -> int:
    """Replace this process with ``argv``, the token in ``variable``; never through a shell."""
    if not argv:
        raise UsageError("exec needs a command: tokenrack exec PROFILE [--env NAME] -- CMD ARGS…")
    environment = {**os.environ, variable: access_token}
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
    return print_token(_fields(_token(args)), as_json=args.json, as_header=args.header)


def run_exec(args: argparse.Namespace) -> int:
    """Run CMD with the token in its environment."""
    if not args.argv:
        raise UsageError("exec needs a command: tokenrack exec PROFILE [--env NAME] -- CMD ARGS…")
    return exec_with(args.argv, args.env, _token(args).access_token)
