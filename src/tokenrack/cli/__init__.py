"""The ``tokenrack`` command: tokens for shells and scripts, and diagnostic tools.

The console script starts in :mod:`tokenrack.cli.entry`, which serves a cached token
without importing anything heavy when it can (:mod:`tokenrack.cli.fast`), and otherwise
hands over to the full command line (:mod:`tokenrack.cli.main`).
"""

from __future__ import annotations

__all__ = ["main"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tokenrack`` command line; return its exit code."""
    from tokenrack.cli.main import main as run

    return run(argv)
