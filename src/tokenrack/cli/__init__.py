"""The ``tokenrack`` command: tokens for shells and scripts, and diagnostic tools.

Kept light: argparse and the standard library are imported here; everything else when a
command needs it, so ``tokenrack --help`` and warm token calls start fast.
"""

from __future__ import annotations

from tokenrack.cli.main import main

__all__ = ["main"]
