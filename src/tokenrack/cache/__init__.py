"""Token caches: the backend seam, keys, record formats, and the built-in backends.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
