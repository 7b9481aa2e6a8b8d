"""The engine: registry, profile runtimes, token store, plugin catalog, shared refresh.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
