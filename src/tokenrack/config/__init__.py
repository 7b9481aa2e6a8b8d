"""Configuration: finding, reading, assembling and validating profiles.

The only package that imports yaml and jsonschema; both are imported when a config is
first loaded, never by ``import tokenrack``.

Internal (see docs/architecture.md). This file stays empty: importing a subpackage costs
nothing, which keeps the CLI's warm path fast.
"""
