"""Reading the config file's YAML (``safe_load`` only); :mod:`.discover` finds the file."""

from __future__ import annotations

import os
from typing import Any

import yaml

from tokenrack.config.discover import discover_config_path, search_paths
from tokenrack.errors import ConfigError

__all__ = ["discover_config_path", "parse_yaml", "read_config_file", "search_paths"]


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text with ``safe_load``.

    Raises:
        ConfigError: The text is not valid YAML; the message gives line and column.
    """
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}{what} (not valid YAML)", file=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=source) from None


def read_config_file(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """Read and parse a config file; return its name for messages and its data.

    Raises:
        ConfigError: The file cannot be read or is not valid YAML.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", file=name) from None
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8 text", file=name) from None
    return name, parse_yaml(text, source=name)
