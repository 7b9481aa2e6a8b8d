"""``tokenrack token`` and ``tokenrack exec``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from tokenrack.cli.common import UsageError, iso8601, load_registry, profile_name

if TYPE_CHECKING:
    from tokenrack.token import Token

__all__ = ["run_exec", "run_token", "token_document"]


def _token(args: argparse.Namespace) -> Token:
    name = profile_name(args)
    registry = load_registry(args)
    token = registry.get_token(name, force_refresh=bool(getattr(args, "force_refresh", False)))
    min_ttl = getattr(args, "min_ttl", None)
    if min_ttl is not None and token.expires_in() < min_ttl:
        token = registry.get_token(name, force_refresh=True)
    return token


def token_document(token: Token, *, now: float | None = None) -> dict[str, Any]:
    """What ``--json`` prints: the token only under ``access_token``, then its facts."""
    now = time.time() if now is None else now
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": iso8601(token.expires_at),
        "expires_in": max(0, int(token.expires_at - now)),
        "scopes": list(token.scopes),
        "extra": dict(token.extra),
    }


def run_token(args: argparse.Namespace) -> int:
    """Print the access token alone, as JSON, or as a header."""
    token = _token(args)
    if args.json:
        print(json.dumps(token_document(token), indent=2))
    elif args.header:
        print(f"Authorization: {token.authorization}")
    else:
        print(token.access_token)
    return 0


def run_exec(args: argparse.Namespace) -> int:
    """Replace this process with CMD, the token in its environment; never through a shell."""
    argv = list(args.argv)
    if not argv:
        raise UsageError("exec needs a command: tokenrack exec PROFILE [--env NAME] -- CMD ARGS…")
    token = _token(args)
    environment = {**os.environ, args.env: token.access_token}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, environment)  # noqa: S606 - an argv list, no shell
    except OSError as error:
        print(f"tokenrack: cannot run {argv[0]!r}: {error.strerror}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover - execvpe does not return
