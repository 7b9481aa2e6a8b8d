"""``tokenrack emulator``: the token emulator in the foreground, for local development."""

from __future__ import annotations

import argparse
import threading

from tokenrack.cli.common import UsageError

__all__ = ["run_emulator"]


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; print where, and what credentials are accepted."""
    from tokenrack.testing import EmulatorClient, TokenEmulator

    if args.personality not in (None, "rfc6749"):
        raise UsageError(f"no emulator personality {args.personality!r} (available: rfc6749)")
    client = EmulatorClient(args.client_id, args.client_secret)
    emulator = TokenEmulator([client], port=args.port, expires_in=args.expires_in)
    with emulator:
        print(f"token emulator on {emulator.url}", flush=True)
        print(f"  token endpoint: {emulator.token_url}")
        print(f"  accepts client_id={args.client_id} client_secret={args.client_secret}")
        print("  (client_secret_basic or client_secret_post; Ctrl-C stops it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped")
    return 0
