"""``tokenrack token`` and ``tokenrack exec`` (the full path; see :mod:`.fast` for the warm one)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from tokenrack.cli import snapshot
from tokenrack.cli.common import UsageError, load_registry, profile_name
from tokenrack.cli.exec_env import child_environment, secret_variables
from tokenrack.cli.output import dpop_output, min_ttl_unmet, print_token
from tokenrack.cli.warm import remember

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tokenrack.core.registry import Registry
    from tokenrack.token import Token

__all__ = ["MinTtlError", "exec_with", "run_exec", "run_token"]

_EXEC_USAGE = "exec needs a command: tokenrack exec [options] [PROFILE] -- CMD [ARGS...]"


class MinTtlError(UsageError):
    """``--min-ttl`` asks for more than the server ever grants (exit code 2, usage)."""


def _granted_lifetime(registry: Registry, name: str) -> float | None:
    """The whole lifetime the server gave ``name``'s cached token (the shared record's).

    None when no shared record knows it (a ``memory`` cache).
    """
    try:
        shared = registry.shared_cache(name)
        info = shared.record() if shared is not None else None
    except Exception:  # the cache's health is `cache list`'s business; a refresh decides
        return None
    if info is None:
        return None
    return float(info.lifetime)


def _fetched_here(registry: Registry, name: str) -> bool:
    """Whether this process asked the token endpoint for ``name``'s token."""
    fetches: dict[str, int] = registry.stats().get(name, {}).get("fetches", {})
    return sum(fetches.values()) > 0


def _meet_min_ttl(registry: Registry, name: str, token: Token, min_ttl: float) -> Token:
    """``token``, or a new one, with at least ``min_ttl`` seconds left.

    A token the server grants for less than ``min_ttl`` in all can never meet it: that is an
    error, decided from the cached token's lifetime without asking the server again (so a
    cron job asking ``--min-ttl 7200`` of a one-hour server does not fetch on every call).

    Raises:
        MinTtlError: The server's tokens live ``min_ttl`` seconds or less.
    """
    if token.expires_in() >= min_ttl:
        return token
    lifetime = _granted_lifetime(registry, name)
    if lifetime is None and _fetched_here(registry, name):
        lifetime = token.expires_in()  # just fetched: what is left is what was granted
    if lifetime is not None and lifetime <= min_ttl:
        raise MinTtlError(min_ttl_unmet(name, min_ttl, lifetime))
    token = registry.get_token(name, force_refresh=True)
    if token.expires_in() < min_ttl:
        granted = _granted_lifetime(registry, name) or token.expires_in()
        raise MinTtlError(min_ttl_unmet(name, min_ttl, granted))
    return token


def _token(args: argparse.Namespace) -> tuple[str, Token, list[str]]:
    """The profile's name, its token, and the variables its secrets are read from.

    Through a full registry, which still finds a token in the file cache.
    """
    _, name, token, secret_names = _registry_token(args)
    return name, token, secret_names


def _registry_token(args: argparse.Namespace) -> tuple[Registry, str, Token, list[str]]:
    """:func:`_token`, with the registry it came from (for a DPoP proof of its key)."""
    environ = snapshot.RecordingEnviron(os.environ)
    registry = load_registry(args, environ)
    name = profile_name(args, registry)
    default = not (getattr(args, "profile", None) or getattr(args, "default_profile", None))
    token = registry.get_token(name, force_refresh=bool(getattr(args, "force_refresh", False)))
    min_ttl = getattr(args, "min_ttl", None)
    try:
        if min_ttl is not None:
            token = _meet_min_ttl(registry, name, token, min_ttl)
    finally:
        # Also after a --min-ttl failure: the warm path then fails the same way, fetching
        # nothing.
        remember(args, name, registry, environ, default=default)
    return (
        registry,
        name,
        token,
        secret_variables(registry.runtime(name).config.options, os.environ),
    )


def _fields(token: Token) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "scopes": token.scopes,
        "extra": token.extra,
    }


def exec_with(
    argv: Sequence[str],
    variable: str,
    access_token: str,
    *,
    drop: Iterable[str] = (),
    expires_at: float | None = None,
) -> int:
    """Replace this process with ``argv``, the token in ``variable``; never through a shell.

    The variables named in ``drop`` (the profile's secrets' sources, unless ``--keep-env``)
    are left out of the command's environment; ``<variable>_EXPIRES_AT`` holds
    ``expires_at`` (whole epoch seconds) when given.

    Raises:
        UsageError: ``argv`` is empty.
    """
    if not argv:
        raise UsageError(_EXEC_USAGE)
    environment = child_environment(
        os.environ, variable=variable, access_token=access_token, drop=drop, expires_at=expires_at
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
    """Print the access token in the ``--format`` asked for (the token alone by default)."""
    proof_for = getattr(args, "dpop_proof", None)
    if proof_for and args.format == "exec-credential":
        raise UsageError("--dpop-proof cannot be used with --format exec-credential")
    registry, name, token, _ = _registry_token(args)
    if not proof_for:
        return print_token(_fields(token), args.format or "raw")
    method, url = proof_for
    dpop = token.access_token if token.token_type.lower() == "dpop" else None
    proof = registry.dpop_proof(name, method, url, access_token=dpop)
    print(dpop_output(_fields(token), proof, args.format or "raw"))
    return 0


def run_exec(args: argparse.Namespace) -> int:
    """Run CMD with the token in its environment, and not the variables its secrets are in."""
    if not args.argv:
        raise UsageError(_EXEC_USAGE)
    _, token, secret_names = _token(args)
    drop = () if getattr(args, "keep_env", False) else secret_names
    return exec_with(
        args.argv, args.env, token.access_token, drop=drop, expires_at=token.expires_at
    )
