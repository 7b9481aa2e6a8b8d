"""The OAuth 2.0 protocol, sans-I/O: providers, messages, the fetch flow, retries, discovery.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
