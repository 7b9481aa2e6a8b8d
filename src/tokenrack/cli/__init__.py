"""The ``tokenrack`` command: tokens for shells and scripts, and diagnostic tools.

The console script starts in :mod:`tokenrack.cli.entry`, which serves a cached token
without importing anything heavy when it can (:mod:`tokenrack.cli.fast`), and otherwise
hands over to the full command line (:mod:`tokenrack.cli.main`).

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
