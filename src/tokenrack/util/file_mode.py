"""A warning, once per file, when a secret or private-key file is open to its group or others.

As ssh does for ``~/.ssh/id_*``: only its owner should read such a file, and nobody else
should be able to replace it (whoever can write a secret file chooses the credential a
service presents). This warns rather than refuses, since a container's mounted secret is
often 0644 with nobody else around.
"""

from __future__ import annotations

import os
import stat
import threading

from tokenrack.util.log import get_logger

__all__ = ["readers", "warn_if_exposed", "warn_if_readable", "writers"]

logger = get_logger("tokenrack.secret")
_lock = threading.Lock()
_warned: set[str] = set()


def _who(mode: int, group: int, other: int) -> str:
    return " and ".join(who for who, bit in (("its group", group), ("others", other)) if mode & bit)


def readers(mode: int) -> str:
    """Who besides the owner may read a file of ``mode`` (``""`` when nobody)."""
    return _who(mode, stat.S_IRGRP, stat.S_IROTH)


def writers(mode: int) -> str:
    """Who besides the owner may write a file of ``mode`` (``""`` when nobody)."""
    return _who(mode, stat.S_IWGRP, stat.S_IWOTH)


def warn_if_exposed(path: str, *, what: str, used_by: str = "") -> bool:
    """Log a WARNING naming ``path`` when its group or others may write or read it, once per file.

    A writable file is the worse case and is the one named when both hold. Never reads
    the file. Nothing is checked on Windows, where the mode bits mean little.

    Args:
        path: The file (a private key, a secret).
        what: What it holds, for the message (``private key``, ``secret``).
        used_by: The config key that refers to it (``profiles.billing.client_secret``).

    Returns:
        Whether a warning was logged by this call.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: modes mean little there
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    can_write, can_read = writers(mode), readers(mode)
    if not can_write and not can_read:
        return False
    key = os.path.realpath(path)
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
    where = f" (used by {used_by})" if used_by else ""
    if can_write:
        logger.warning(
            "%s file %s%s is writable by %s (mode %04o): they can replace it; run `chmod 600 %s`",
            what,
            path,
            where,
            can_write,
            stat.S_IMODE(mode),
            path,
        )
    else:
        logger.warning(
            "%s file %s%s is readable by %s (mode %04o); run `chmod 600 %s`",
            what,
            path,
            where,
            can_read,
            stat.S_IMODE(mode),
            path,
        )
    return True


def warn_if_readable(path: str, *, what: str) -> bool:
    """:func:`warn_if_exposed` without the key that refers to the file (kept for callers).

    Returns:
        Whether a warning was logged by this call.
    """
    return warn_if_exposed(path, what=what)
