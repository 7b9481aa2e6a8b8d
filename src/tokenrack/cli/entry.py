"""The ``tokenrack`` console script: the fast path first, the full command line if needed."""

from __future__ import annotations

import sys

__all__ = ["entry_point"]


def entry_point() -> None:
    """Run ``tokenrack`` and exit with its code."""
    from tokenrack.cli.fast import serve

    code = serve(sys.argv[1:])
    if code is None:
        from tokenrack.cli.main import main

        code = main()
    sys.exit(code)
