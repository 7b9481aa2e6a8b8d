"""Where the config file is: ``TOKENRACK_CONFIG``, then the usual places.

Kept apart from the YAML reader so that finding the file (which the CLI's warm path does on
every call) never imports yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tokenrack.errors import ConfigError

__all__ = ["discover_config_path", "search_paths"]


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
