"""Secrets: the masked ``Secret`` value and the secret sources.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
