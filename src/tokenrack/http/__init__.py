"""The HTTP transport: the one module that imports requests.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
