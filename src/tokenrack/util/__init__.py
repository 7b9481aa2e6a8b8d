"""Small stdlib-only helpers every layer may use: clocks, logging, extras, private files.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
