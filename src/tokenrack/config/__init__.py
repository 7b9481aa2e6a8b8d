"""Configuration: finding, reading, assembling and validating profiles.

The only package that imports yaml and jsonschema; both are imported when a config is
first loaded, never by ``import tokenrack``.
"""

from __future__ import annotations

from tokenrack.config.assemble import Config, PluginSchemas, ProfileConfig, load_config
from tokenrack.config.document import (
    discover_config_path,
    parse_yaml,
    read_config_file,
    search_paths,
)

__all__ = [
    "Config",
    "PluginSchemas",
    "ProfileConfig",
    "discover_config_path",
    "load_config",
    "parse_yaml",
    "read_config_file",
    "search_paths",
]
