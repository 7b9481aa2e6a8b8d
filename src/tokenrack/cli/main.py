"""Parsing the command line and running a command, with tokenrack's exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Sequence

from tokenrack.cli.common import UsageError
from tokenrack.cli.emulator_cmd import add_arguments as add_emulator_arguments
from tokenrack.cli.exit_codes import USAGE, describe, epilog, exit_code
from tokenrack.cli.serve_cmd import add_serve_parser

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
    "serve": ("tokenrack.cli.serve_cmd", "run_serve"),
}


def _version() -> str:
    from tokenrack import __version__

    return f"tokenrack {__version__}"


def _seconds(text: str) -> float:
    """``--min-ttl``'s value: seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds, zero or more, got {text!r}")
    return value


def _variable_name(text: str) -> str:
    """``exec --env``'s value: a variable name the command can do without."""
    from tokenrack.cli.exec_env import variable_problem

    problem = variable_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profile",
        nargs="?",
        metavar="PROFILE",
        help="the profile (default: --profile, $TOKENRACK_PROFILE, then the config's "
        "default_profile)",
    )


def _json_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _command_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    *,
    description: str,
    examples: Sequence[str],
    usage: str | None = None,
) -> argparse.ArgumentParser:
    """A command's parser: a line for the command list, a description and examples."""
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 79),
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        usage=usage,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``tokenrack`` argument parser (completion scripts and help are generated from it)."""
    from tokenrack.cli.output import FORMATS

    parser = argparse.ArgumentParser(
        prog="tokenrack",
        description="OAuth 2.0 client-credentials tokens for shells, scripts and operators.",
        epilog=textwrap.fill(epilog() + ".", 79)
        + "\n`tokenrack COMMAND --help` shows a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: discovered)")
    parser.add_argument(
        "--profile",
        dest="default_profile",
        metavar="NAME",
        default=os.environ.get("TOKENRACK_PROFILE"),
        help="profile for commands that take one (default: $TOKENRACK_PROFILE, then the "
        "config's default_profile)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv for debug)"
    )
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="no warnings on stderr (errors still shown)"
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    token = _command_parser(
        commands,
        "token",
        "print an access token",
        description="Print the profile's access token (from the cache while it is fresh), "
        "alone or in another --format.",
        examples=[
            "tokenrack token billing",
            "tokenrack token billing --format exec-credential",
            'eval "$(tokenrack token billing --format env)"',
            "tokenrack token billing --min-ttl 300",
            "tokenrack token okta-api --dpop-proof GET https://api.example.com/v1/users "
            "--format header",
        ],
    )
    _profile_argument(token)
    shape = token.add_mutually_exclusive_group()
    shape.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        metavar="FORMAT",
        help="raw (the token alone, the default), json, env (shell lines for eval), header "
        "(Authorization: ...) or exec-credential (kubectl's ExecCredential)",
    )
    shape.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    shape.add_argument(
        "--header", dest="format", action="store_const", const="header", help="--format header"
    )
    token.add_argument("--force-refresh", action="store_true", help="fetch a new token")
    token.add_argument(
        "--min-ttl",
        type=_seconds,
        metavar="SECONDS",
        help="refresh first if less than this remains; an error (exit 2) if the server's "
        "tokens never live this long",
    )
    token.add_argument(
        "--dpop-proof",
        nargs=2,
        metavar=("METHOD", "URL"),
        help="also make a DPoP proof for METHOD URL (a profile with dpop: true): alone by "
        "default, with the token in --format header, json or env",
    )

    run = _command_parser(
        commands,
        "exec",
        "run a command with the token in its environment",
        description="Run CMD with the token in $TOKENRACK_TOKEN (or --env NAME) and its "
        "expiry, in epoch seconds, in $TOKENRACK_TOKEN_EXPIRES_AT (NAME_EXPIRES_AT); "
        "never through a shell. The variables the profile's secrets are read from are "
        "withheld from CMD.",
        examples=[
            "tokenrack exec billing -- ./report.sh --month 11",
            "tokenrack --profile billing exec --env API_TOKEN -- python sync.py",
        ],
        usage="tokenrack exec [options] [PROFILE] -- CMD [ARGS...]",
    )
    _profile_argument(run)
    run.add_argument(
        "--env",
        default="TOKENRACK_TOKEN",
        type=_variable_name,
        metavar="NAME",
        help="the variable for the token (default: TOKENRACK_TOKEN); NAME_EXPIRES_AT holds "
        "its expiry; PATH, HOME and other variables the command needs are refused",
    )
    run.add_argument(
        "--keep-env",
        action="store_true",
        help="also pass the variables the profile's secrets are read from (withheld by default)",
    )

    inspect = _command_parser(
        commands,
        "inspect",
        "decode a JWT access token, unverified",
        description="Show a JWT access token's header and claims, decoded WITHOUT verifying "
        "its signature; never the token itself.",
        examples=[
            "tokenrack inspect billing",
            "tokenrack token billing | tokenrack inspect --token -",
        ],
    )
    _profile_argument(inspect)
    inspect.add_argument("--token", metavar="-", help="read the token from stdin ('-')")
    _json_option(inspect, "the header, the claims and the expiry")

    explain = _command_parser(
        commands,
        "explain",
        "show exactly what would be sent, redacted",
        description="Show the request tokenrack would send for the profile (secrets as ***), "
        "the auth method and why, the cache key and the refresh windows; sends no token "
        "request.",
        examples=["tokenrack explain billing"],
    )
    _profile_argument(explain)

    profiles = _command_parser(
        commands,
        "profiles",
        "list profiles",
        description="List the config's profiles with provider, auth method, cache state, "
        "scopes and token URL.",
        examples=["tokenrack profiles", "tokenrack profiles --names"],
    )
    _json_option(profiles, "the list")
    profiles.add_argument(
        "--names",
        action="store_true",
        help="print the profile names only, one a line, reading no secret (for scripts and "
        "shell completion)",
    )

    providers = _command_parser(
        commands,
        "providers",
        "list installed plugins and failures",
        description="List every installed plugin (providers, auth methods, caches, secret "
        "sources, personalities) and why any fails to load.",
        examples=["tokenrack providers"],
    )
    _json_option(providers, "the list")

    check = _command_parser(
        commands,
        "check",
        "validate the config, secrets and endpoints",
        description="Validate the config and read every profile's secrets; with --fetch, get "
        "a token from each too. Exits non-zero when anything fails.",
        examples=["tokenrack check", "tokenrack check billing --fetch"],
    )
    check.add_argument(
        "profiles", nargs="*", metavar="PROFILE", help="the profiles to check (default: all)"
    )
    check.add_argument("--fetch", action="store_true", help="also get a token from each")

    _command_parser(
        commands,
        "schema",
        "print the composed JSON Schema",
        description="Print the JSON Schema of a config file, composed from the installed "
        "plugins (for editors).",
        examples=["tokenrack schema > tokenrack.schema.json"],
    )

    emulator = _command_parser(
        commands,
        "emulator",
        "run the local token emulator",
        description="Run the token emulator in the foreground on 127.0.0.1 for local "
        "development and tests; Ctrl-C or SIGTERM stops it. A busy or invalid port is a "
        "usage error (exit 2).",
        examples=[
            "tokenrack emulator --port 8080",
            "tokenrack emulator --personality azure --log-requests",
            "tokenrack emulator --personality mypkg.testing:AcmePersonality",
        ],
    )
    add_emulator_arguments(emulator)

    cache = _command_parser(
        commands,
        "cache",
        "list or purge cached tokens (metadata only)",
        description="list: every profile's cached token (backend, state, expiry, location), "
        "never the token. purge: drop them, so the next call fetches.",
        examples=["tokenrack cache list", "tokenrack cache purge billing"],
    )
    cache.add_argument(
        "action", choices=["list", "purge"], help="list (show) or purge (delete) cached tokens"
    )
    cache.add_argument("profile", nargs="?", metavar="PROFILE", help="one profile (default: all)")
    _json_option(cache, "the list")

    completion = _command_parser(
        commands,
        "completion",
        "print a shell completion script",
        description="Print a completion script for bash, zsh or fish: commands, options and "
        "profile names.",
        examples=[
            'eval "$(tokenrack completion bash)"',
            "tokenrack completion fish > ~/.config/fish/completions/tokenrack.fish",
        ],
    )
    completion.add_argument(
        "shell", choices=["bash", "zsh", "fish"], help="the shell: bash, zsh or fish"
    )
    add_serve_parser(commands)
    return parser


class _WarningsToStderr(logging.Handler):
    """WARNING and above, one line each, to whatever ``sys.stderr`` is at the time."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def format(self, record: logging.LogRecord) -> str:
        """``tokenrack: warning: MESSAGE`` on one line: no traceback (``-v`` shows those)."""
        return "tokenrack: warning: " + " ".join(record.getMessage().splitlines())

    def emit(self, record: logging.LogRecord) -> None:
        from tokenrack.util.log import RAISED

        if getattr(record, RAISED, False):
            return  # the error itself is printed when the command fails
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _configure_logging(verbosity: int, *, quiet: bool = False) -> None:
    """Warnings to stderr unless ``quiet``; every record from INFO (-v) or DEBUG (-vv).

    A CLI user has no logging set up of their own, so without this a degraded run (a shared
    cache down, a secret file others can read) would look healthy: tokenrack's loggers
    otherwise end in a ``NullHandler``.
    """
    logger = logging.getLogger("tokenrack")
    if verbosity <= 0:
        if not quiet and not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
            logger.addHandler(_WarningsToStderr())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
    if args.command is None:
        # Like git: a bare `tokenrack` lists the commands, as a usage error (exit 2).
        parser.print_help(sys.stderr)
        return USAGE
    args.argv = command
    if (
        getattr(args, "profile", None) is None
        and hasattr(args, "profile")
        and args.command != "cache"
    ):
        args.profile = args.default_profile
    _configure_logging(args.verbose, quiet=args.quiet)
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
