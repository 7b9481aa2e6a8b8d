"""Client authentication methods, JWT signing, key material and ``auto`` selection.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
