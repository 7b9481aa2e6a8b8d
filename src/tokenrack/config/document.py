"""Finding the config file and reading its YAML (``safe_load`` only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tokenrack.errors import ConfigError

__all__ = ["discover_config_path", "parse_yaml", "read_config_file", "search_paths"]


def search_paths(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """Where a config is looked for, in order, after ``TOKENRACK_CONFIG``.

    ``./tokenrack.yaml``, then ``$XDG_CONFIG_HOME/tokenrack/config.yaml`` (XDG defaults
    to ``~/.config``), then ``/etc/tokenrack/config.yaml``.
    """
    xdg = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        cwd / "tokenrack.yaml",
        Path(xdg) / "tokenrack" / "config.yaml",
        Path("/etc/tokenrack/config.yaml"),
    ]


def discover_config_path(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The config file to use: ``TOKENRACK_CONFIG`` if set, else the first that exists.

    Raises:
        ConfigError: ``TOKENRACK_CONFIG`` names a missing file, or no config exists.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    explicit = environ.get("TOKENRACK_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"TOKENRACK_CONFIG names {path}, which is not a file")
        return path
    candidates = search_paths(environ, cwd)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"no tokenrack config found; set TOKENRACK_CONFIG or create one of: {looked}")


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
