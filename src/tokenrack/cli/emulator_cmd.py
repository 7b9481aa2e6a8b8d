"""``tokenrack emulator``: the token emulator in the foreground, for local development.

It runs until Ctrl-C or SIGTERM (as docker, systemd and CI stop things), then removes the
files its personality wrote and exits 0. A port that cannot be bound is a one-line usage
error (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, overload

from tokenrack.cli.common import UsageError

if TYPE_CHECKING:
    from tokenrack.testing.personality import Personality

__all__ = ["PERSONALITIES", "add_arguments", "run_emulator"]


class _Offered(Sequence[str]):
    """The personality names, read from the entry points the first time they are needed.

    Lazy so that building the parser (every command does) scans no entry points: only
    ``--personality`` validation, ``--help`` and completion read them.
    """

    def __init__(self) -> None:
        self._names: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._names is None:
            from tokenrack.testing.personalities import names

            self._names = names()
        return self._names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()


PERSONALITIES: Sequence[str] = _Offered()
"""What ``--personality`` offers: plain RFC 6749, then every ``tokenrack.personalities``
entry point (the vendor pack registers one per vendor); read on first use."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535; 0 picks a free one)")
    return port


class _Accepted(_Offered):
    """What ``--personality`` accepts: the names offered, or any ``module:Class`` path."""

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and ":" in name) or super().__contains__(name)


_ACCEPTED: Sequence[str] = _Accepted()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``tokenrack emulator`` options (``cli.main`` builds the subcommand with them)."""
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port to listen on, on 127.0.0.1 (default 0: a free one, printed at start)",
    )
    parser.add_argument(
        "--personality",
        default="rfc6749",
        choices=_ACCEPTED,
        metavar="NAME|MODULE:CLASS",
        help="the dialect to speak: %(choices)s (default: rfc6749), or the import path of "
        "a Personality subclass, e.g. mypkg.testing:AcmePersonality (the current "
        "directory is importable)",
    )
    parser.add_argument(
        "--client-id", default="test-client", help="the client id it accepts (test-client)"
    )
    parser.add_argument(
        "--client-secret",
        default="test-secret",
        help="the client secret it accepts (test-secret); a test value, printed at start",
    )
    parser.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="a scope the client may ask for (repeat it; default: any scope)",
    )
    parser.add_argument(
        "--audience",
        action="append",
        metavar="AUDIENCE",
        help="an audience the client may ask for (repeat it; default: any audience)",
    )
    parser.add_argument(
        "--expires-in",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="the lifetime announced for each token (3600)",
    )
    parser.add_argument(
        "--token-format",
        choices=("opaque", "jwt"),
        default="opaque",
        help="opaque random tokens (default) or unsigned JWT-shaped ones with exp, sub, "
        "scope and aud, which `tokenrack inspect` decodes",
    )
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="print one line per request to stderr: method, path, client id, outcome "
        "(never a secret)",
    )
    parser.add_argument(
        "--key-dir",
        type=Path,
        metavar="DIR",
        help="where a personality that needs key files (google) writes them, so their path "
        "stays the same between runs (default: a new private temporary directory); the "
        "files are removed when the emulator stops",
    )


def _load(name: str) -> Personality:
    from tokenrack.testing.personalities import PersonalityNotFoundError, load

    if ":" in name and "" not in sys.path and os.getcwd() not in sys.path:
        # As `python -m` and uvicorn do: the personality in ./my_personality.py is found.
        sys.path.insert(0, os.getcwd())
    try:
        return load(name)
    except PersonalityNotFoundError as missing:
        raise UsageError(str(missing)) from None


def _key_dir(stack: ExitStack, wanted: Path | None) -> Path:
    """A private directory for key files, and (on exit) the removal of what was written."""
    if wanted is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tokenrack-")))
    try:
        wanted.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = wanted.stat()
    except OSError as error:
        raise UsageError(f"--key-dir {wanted}: {error.strerror or error}") from None
    if mode.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(
            f"--key-dir {wanted}: writable by other users; use a private directory (chmod 700)"
        )
    before = {path: path.stat().st_mtime_ns for path in wanted.iterdir()}

    def remove_written() -> None:
        # New files, and old ones rewritten (left over by a run that was SIGKILLed).
        for path in wanted.iterdir():
            if before.get(path) != path.stat().st_mtime_ns:
                path.unlink(missing_ok=True)

    stack.callback(remove_written)
    return wanted


def _bind_error(port: int, error: OSError) -> UsageError:
    if error.errno == errno.EADDRINUSE:
        return UsageError(
            f"port {port} on 127.0.0.1 is already in use; stop what holds it, or pick "
            "another --port (0 picks a free one)"
        )
    if error.errno == errno.EACCES:
        return UsageError(f"port {port} needs privileges to bind; pick one above 1023")
    return UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}")


def _stop_on_sigterm(stack: ExitStack) -> None:
    """Make SIGTERM stop the emulator as Ctrl-C does (main thread only: signal's rule)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    stack.callback(signal.signal, signal.SIGTERM, previous or signal.SIG_DFL)


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted or terminated; print where, and what is accepted."""
    from tokenrack.testing.emulator import EmulatorClient, TokenEmulator

    personality = _load(args.personality)
    client = EmulatorClient(
        args.client_id,
        args.client_secret,
        scopes=frozenset(args.scope) if args.scope else None,
        audiences=frozenset(args.audience) if args.audience else None,
    )
    emulator = TokenEmulator(
        [client],
        port=args.port,
        expires_in=args.expires_in,
        token_format=args.token_format,
        personality=personality,
    )
    if args.log_requests:
        emulator.request_log = lambda line: print(line, file=sys.stderr, flush=True)
    with ExitStack() as stack:
        _stop_on_sigterm(stack)
        try:
            stack.enter_context(emulator)
        except OSError as error:
            raise _bind_error(args.port, error) from None
        lines = [
            f"token emulator on {emulator.url} ({args.personality})",
            f"  token endpoint: {emulator.token_url}",
        ]
        directory = _key_dir(stack, args.key_dir)
        try:
            prepared = personality.prepare(emulator, directory)
        except ImportError as missing:
            raise UsageError(str(missing)) from None
        if prepared is None:
            methods = [
                m
                for m in ("client_secret_basic", "client_secret_post")
                if m in personality.auth_methods
            ]
            prepared = [
                f"  accepts client_id={args.client_id} client_secret={args.client_secret} "
                f"({' or '.join(methods)})",
                f"  scopes: {' '.join(sorted(args.scope)) if args.scope else 'any'}; "
                f"audiences: {' '.join(sorted(args.audience)) if args.audience else 'any'}",
            ]
        lines += prepared
        lines += personality.accepts(emulator)
        lines.append(f"  tokens: {args.token_format}, expires_in {args.expires_in}")
        lines.append("  Ctrl-C stops it (SIGTERM too)")
        try:
            # Inside the try: a Ctrl-C right after the banner (as soon as a reader sees
            # it) still stops cleanly rather than escaping as an interrupt (exit 130).
            print("\n".join(lines), flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
