"""`tokenrack serve`: the token agent, serving a config's profiles to local processes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from tokenrack.cli.common import UsageError

__all__ = ["add_serve_parser", "run_serve"]


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError("an octal mode such as 600 or 660") from None
    if mode & ~0o660:
        raise argparse.ArgumentTypeError("only owner and group read/write (600 or 660)")
    return mode


def add_serve_parser(commands: Any) -> None:
    """Add the ``serve`` subcommand to the ``tokenrack`` parser's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the token agent (docs/agent.md)",
        description="Run the token agent in the foreground: the profiles listed under the "
        "config's agent: key, served over a unix socket (and loopback TCP if asked) to local "
        "processes in any language. SIGHUP reloads the config, SIGTERM drains and exits.",
        epilog="examples:\n  tokenrack serve\n"
        "  tokenrack serve --listen unix:/run/tokenrack/agent.sock --pid-file /run/tokenrack.pid\n"
        "  curl --unix-socket $XDG_RUNTIME_DIR/tokenrack/agent.sock "
        "http://localhost/v1/token/billing",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="unix:PATH or tcp://127.0.0.1:PORT, repeatable "
        "(default: unix:$XDG_RUNTIME_DIR/tokenrack/agent.sock)",
    )
    serve.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="let a tcp:// listener bind an address other hosts can reach",
    )
    serve.add_argument(
        "--socket-mode", type=_mode, default=0o600, metavar="MODE", help="unix socket mode (600)"
    )
    serve.add_argument("--pid-file", metavar="PATH", help="write the process id here")
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long SIGTERM waits for requests in flight (30)",
    )


class _NotWarnings(logging.Filter):
    """Drop WARNING records: ``-q`` silences warnings, not the agent's INFO or its errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING


def _agent_log(*, quiet: bool) -> None:
    """The agent's own lines on stderr even without ``-v``: one handler, each line once.

    The agent's records (listening, one per request, reloads, errors) are written here, in
    a timestamped format, and do not go on to the CLI's ``tokenrack: warning:`` handler,
    which would print the agent's warnings a second time. With ``-v`` the CLI's own
    handler shows everything and this one is not installed.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if quiet:
        handler.addFilter(_NotWarnings())
    logger = logging.getLogger("tokenrack.agent")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_serve(args: argparse.Namespace) -> int:
    """Run the agent in the foreground until SIGTERM."""
    try:
        from tokenrack.agent.server import ServeOptions, serve
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "aiohttp":
            raise
        raise UsageError("tokenrack serve needs aiohttp: pip install 'tokenrack[agent]'") from None

    if args.verbose <= 0:
        _agent_log(quiet=args.quiet)
    return serve(
        ServeOptions(
            config=args.config,
            listen=tuple(args.listen),
            allow_non_loopback=args.allow_non_loopback,
            socket_mode=args.socket_mode,
            pid_file=args.pid_file,
            drain_seconds=args.drain_seconds,
        )
    )
