"""Where the config file is: ``TOKENRACK_CONFIG``, then the usual places, if they are yours.

Kept apart from the YAML reader so that finding the file (which the CLI's warm path does on
every call) never imports yaml, nor logging unless a file has to be skipped.

A discovered file is obeyed only when nobody but you (or root) can have written it, as
OpenSSH's StrictModes and git's ``safe.directory`` decide: owned by you or root, not writable
by its group or others, in a directory that its group and others cannot write either (a
sticky directory owned by root or by you, such as ``/tmp``, is fine: others cannot replace
your file there, and a file they own there is refused by the owner rule). Any other file
is skipped with a warning, and the search goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from tokenrack.errors import ConfigError

__all__ = ["discover_config_path", "search_paths", "untrusted_reason"]

_WRITERS = (("its group", stat.S_IWGRP), ("others", stat.S_IWOTH))


def search_paths(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """Where a config is looked for, in order, after ``TOKENRACK_CONFIG``.

    ``./tokenrack.yaml``, then ``$XDG_CONFIG_HOME/tokenrack/config.yaml`` (XDG defaults
    to ``~/.config``), then ``/etc/tokenrack/config.yaml``. Each is used only when
    :func:`untrusted_reason` finds nothing against it.
    """
    xdg = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        cwd / "tokenrack.yaml",
        Path(xdg) / "tokenrack" / "config.yaml",
        Path("/etc/tokenrack/config.yaml"),
    ]


def _writers(mode: int) -> str:
    return " and ".join(who for who, bit in _WRITERS if mode & bit)


def _directory_reason(directory: str, uid: int) -> str | None:
    try:
        info = os.stat(directory)
    except OSError:
        return None
    if not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if info.st_mode & stat.S_ISVTX and info.st_uid in (0, uid):
        return None
    return (
        f"its directory {directory} is writable by {_writers(info.st_mode)} "
        f"(mode {stat.S_IMODE(info.st_mode):04o})"
    )


def untrusted_reason(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` may have been written by someone else, or None when only you (or root) can.

    Checks the file's owner and mode and its directory's mode (the directory it is named
    in, and the one a symbolic link leads to). None where the platform has no owners.
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # pragma: no cover - Windows: no POSIX owners to check
        return None
    uid = geteuid()
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except OSError:
        return None
    if info.st_uid not in (0, uid):
        return f"it is owned by uid {info.st_uid}, not by you (uid {uid}) or root"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by {_writers(info.st_mode)} (mode {stat.S_IMODE(info.st_mode):04o})"
    directories = dict.fromkeys(
        [os.path.dirname(os.path.abspath(name)), os.path.dirname(os.path.realpath(name))]
    )
    for directory in directories:
        reason = _directory_reason(directory, uid)
        if reason:
            return reason
    return None


def _warn_skipped(path: Path, reason: str) -> None:
    from tokenrack.util.log import get_logger

    get_logger("tokenrack.config").warning(
        "skipping config %s: %s; only your own files are obeyed "
        "(fix its owner or mode, or name it with --config or TOKENRACK_CONFIG)",
        path,
        reason,
    )


def discover_config_path(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The config file to use: ``TOKENRACK_CONFIG`` if set, else the first that exists and is yours.

    A candidate that someone else may have written (see :func:`untrusted_reason`) is
    skipped with a warning naming it and why. ``TOKENRACK_CONFIG`` is used as named (its
    ``{command:}`` secrets are still refused if others can write it: see
    :func:`tokenrack.config.exposure.refuse_untrusted_commands`).

    Raises:
        ConfigError: ``TOKENRACK_CONFIG`` names a missing file, or no usable config exists.
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
    skipped: list[str] = []
    for candidate in candidates:
        if candidate.is_file():
            reason = untrusted_reason(candidate)
            if reason is None:
                return candidate
            _warn_skipped(candidate, reason)
            skipped.append(f"{candidate} ({reason})")
    looked = ", ".join(str(c) for c in candidates)
    message = f"no tokenrack config found; set TOKENRACK_CONFIG or create one of: {looked}"
    if skipped:
        message += "; skipped, as someone else may write them: " + "; ".join(skipped)
    raise ConfigError(message)
