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
    # The process ends now: its last garbage collections need not walk every object the
    # command built (after listing 10,000 profiles, about half a second). Objects are still
    # freed, and atexit handlers (the validation record's write) still run.
    import gc

    gc.freeze()
    sys.exit(code)
