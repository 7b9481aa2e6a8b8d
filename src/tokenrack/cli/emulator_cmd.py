"""``tokenrack emulator``: the token emulator in the foreground, for local development."""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import overload

from tokenrack.cli.common import UsageError

__all__ = ["PERSONALITIES", "run_emulator"]


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


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; print where, and what credentials are accepted."""
    from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
    from tokenrack.testing.personalities import PersonalityNotFoundError, load

    name = args.personality or "rfc6749"
    try:
        personality = load(name)
    except PersonalityNotFoundError as missing:
        raise UsageError(str(missing)) from None
    client = EmulatorClient(args.client_id, args.client_secret)
    emulator = TokenEmulator(
        [client], port=args.port, expires_in=args.expires_in, personality=personality
    )
    with ExitStack() as stack:
        stack.enter_context(emulator)
        lines = [
            f"token emulator on {emulator.url} ({name})",
            f"  token endpoint: {emulator.token_url}",
        ]
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tokenrack-")))
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
                f"({' or '.join(methods)})"
            ]
        lines += prepared
        lines.append("  Ctrl-C stops it")
        try:
            # Inside the try: a Ctrl-C right after the banner (as soon as a reader sees
            # it) still stops cleanly rather than escaping as an interrupt (exit 130).
            print("\n".join(lines), flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
