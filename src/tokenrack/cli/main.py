"""Parsing the command line and running a command, with tokenrack's exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from tokenrack.cli.common import UsageError
from tokenrack.cli.emulator_cmd import add_arguments as add_emulator_arguments
from tokenrack.cli.exit_codes import USAGE, describe, epilog, exit_code

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]

_COMMANDS = {
    "token": ("tokenrack.cli.token_cmd", "run_token"),
    "exec": ("tokenrack.cli.token_cmd", "run_exec"),
    "inspect": ("tokenrack.cli.inspect_cmd", "run_inspect"),
    "explain": ("tokenrack.cli.explain_cmd", "run_explain"),
    "profiles": ("tokenrack.cli.admin_cmd", "run_profiles"),
    "providers": ("tokenrack.cli.admin_cmd", "run_providers"),
    "check": ("tokenrack.cli.admin_cmd", "run_check"),
    "schema": ("tokenrack.cli.admin_cmd", "run_schema"),
    "emulator": ("tokenrack.cli.emulator_cmd", "run_emulator"),
    "completion": ("tokenrack.cli.completion", "run_completion"),
    "cache": ("tokenrack.cli.cache_cmd", "run_cache"),
}


def _version() -> str:
    from tokenrack import __version__

    return f"tokenrack {__version__}"


def _profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profile",
        nargs="?",
        metavar="PROFILE",
        help="the profile (default: --profile, or $TOKENRACK_PROFILE)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``tokenrack`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="tokenrack",
        description="OAuth 2.0 client-credentials tokens for shells, scripts and operators.",
        epilog=epilog() + ".",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: discovered)")
    parser.add_argument(
        "--profile",
        dest="default_profile",
        metavar="NAME",
        default=os.environ.get("TOKENRACK_PROFILE"),
        help="profile for commands that take one (default: $TOKENRACK_PROFILE)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv for debug)"
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    token = commands.add_parser("token", help="print an access token")
    _profile_argument(token)
    shape = token.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the token and its facts as JSON")
    shape.add_argument("--header", action="store_true", help="print an Authorization header")
    token.add_argument("--force-refresh", action="store_true", help="fetch a new token")
    token.add_argument(
        "--min-ttl", type=float, metavar="SECONDS", help="refresh if less than this remains"
    )

    run = commands.add_parser("exec", help="run a command with the token in its environment")
    run.add_argument("profile", metavar="PROFILE")
    run.add_argument(
        "--env", default="TOKENRACK_TOKEN", metavar="NAME", help="variable (TOKENRACK_TOKEN)"
    )
    run.add_argument(
        "--keep-env",
        action="store_true",
        help="also pass the variables the profile's secrets are read from (withheld by default)",
    )
    run.add_argument("-- CMD ARGS", nargs="?", help="the command, after --")

    inspect = commands.add_parser("inspect", help="decode a JWT access token, unverified")
    _profile_argument(inspect)
    inspect.add_argument("--token", metavar="-", help="read the token from stdin ('-')")
    inspect.add_argument("--json", action="store_true")

    explain = commands.add_parser("explain", help="show exactly what would be sent, redacted")
    _profile_argument(explain)

    profiles = commands.add_parser("profiles", help="list profiles")
    profiles.add_argument("--json", action="store_true")
    profiles.add_argument("--names", action="store_true", help=argparse.SUPPRESS)

    providers = commands.add_parser("providers", help="list installed plugins and failures")
    providers.add_argument("--json", action="store_true")

    check = commands.add_parser("check", help="validate the config, secrets and endpoints")
    check.add_argument("profiles", nargs="*", metavar="PROFILE")
    check.add_argument("--fetch", action="store_true", help="also get a token from each")

    commands.add_parser("schema", help="print the composed JSON Schema")

    emulator = commands.add_parser("emulator", help="run the local token emulator")
    add_emulator_arguments(emulator)

    cache = commands.add_parser("cache", help="list or purge cached tokens (metadata only)")
    cache.add_argument("action", choices=["list", "purge"])
    cache.add_argument("profile", nargs="?", metavar="PROFILE", help="one profile (default: all)")
    cache.add_argument("--json", action="store_true")

    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser


class _WarningsToStderr(logging.Handler):
    """WARNING and above, to whatever ``sys.stderr`` is at the time."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("tokenrack: warning: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        # Without -v, still say which files were skipped or are exposed (config discovery,
        # key and secret file modes): the user must not be surprised by which config ran.
        for name in ("tokenrack.config", "tokenrack.secret"):
            logger = logging.getLogger(name)
            if not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
                logger.addHandler(_WarningsToStderr())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tokenrack")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def _command(name: str) -> Command:
    import importlib

    module, function = _COMMANDS[name]
    command: Command = getattr(importlib.import_module(module), function)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tokenrack`` command line; return its exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is exec's command, verbatim (options included).
    command = words[words.index("--") + 1 :] if "--" in words else []
    args = parser.parse_args(words[: words.index("--")] if "--" in words else words)
    args.argv = command
    if (
        getattr(args, "profile", None) is None
        and hasattr(args, "profile")
        and args.command != "cache"
    ):
        args.profile = args.default_profile
    _configure_logging(args.verbose)
    debug = args.verbose > 0 or os.environ.get("TOKENRACK_DEBUG") == "1"
    try:
        return _command(args.command)(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except UsageError as error:
        print(f"tokenrack: {error}", file=sys.stderr)
        return USAGE
    except Exception as error:  # every error becomes a message and an exit code
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(describe(error), file=sys.stderr)
        return exit_code(error)
