"""``tokenrack emulator``: the token emulator in the foreground, for local development."""

from __future__ import annotations

import argparse
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from tokenrack.cli.common import UsageError

if TYPE_CHECKING:
    from tokenrack.testing import TokenEmulator
    from tokenrack.testing.personality import Personality

__all__ = ["PERSONALITIES", "run_emulator"]

PERSONALITIES = (
    "rfc6749",
    "apigee",
    "auth0",
    "azure",
    "cognito",
    "google",
    "keycloak",
    "okta",
    "ping",
    "salesforce",
    "zoom",
)
"""What ``--personality`` offers: plain RFC 6749, and the dialect of each vendor of the pack.

Spelled out so that building the parser imports no emulator code; a test keeps it equal to
``tokenrack.testing.personalities.PERSONALITIES`` (plus ``rfc6749``).
"""

SERVICE_ACCOUNT = "emulator@tokenrack-emulator.iam.gserviceaccount.com"


def _personality(name: str) -> Personality | None:
    if name == "rfc6749":
        return None
    from tokenrack.testing.personalities import PERSONALITIES as AVAILABLE

    if name not in AVAILABLE:
        offered = ", ".join(PERSONALITIES)
        raise UsageError(f"no emulator personality {name!r} (available: {offered})")
    return AVAILABLE[name]()


def _service_account(emulator: TokenEmulator, stack: ExitStack) -> list[str]:
    """Register a service account, write its key file; say where it is."""
    try:
        from tokenrack.testing.personalities.google import write_service_account_key

        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tokenrack-")))
        key = write_service_account_key(
            directory / "service-account.json",
            client_email=SERVICE_ACCOUNT,
            token_uri=emulator.token_url,
        )
    except ImportError:
        raise UsageError(
            "the google personality makes a key with cryptography: pip install 'tokenrack[jwt]'"
        ) from None
    emulator.add_client(key.client)
    return [
        f"  accepts service account {SERVICE_ACCOUNT} (the JWT-bearer grant, any scopes)",
        f"  its key file: {key.path} (made now, deleted when the emulator stops)",
    ]


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; print where, and what credentials are accepted."""
    from tokenrack.testing import EmulatorClient, TokenEmulator

    name = args.personality or "rfc6749"
    personality = _personality(name)
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
        methods = [
            m
            for m in ("client_secret_basic", "client_secret_post")
            if m in emulator.personality.auth_methods
        ]
        if name == "google":
            lines += _service_account(emulator, stack)
        else:
            lines.append(
                f"  accepts client_id={args.client_id} client_secret={args.client_secret} "
                f"({' or '.join(methods)})"
            )
        lines.append("  Ctrl-C stops it")
        print("\n".join(lines), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
