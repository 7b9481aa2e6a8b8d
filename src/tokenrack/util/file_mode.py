"""A warning, once per file, when a file holding a secret or a private key is readable by others.

As ssh does for ``~/.ssh/id_*``: only its owner should read such a file. This warns rather
than refuses, since a container's mounted secret is often 0644 with nobody else around.
"""

from __future__ import annotations

import os
import stat
import threading

from tokenrack.util.log import get_logger

__all__ = ["readers", "warn_if_readable"]

logger = get_logger("tokenrack.secret")
_lock = threading.Lock()
_warned: set[str] = set()


def readers(mode: int) -> str:
    """Who besides the owner may read a file of ``mode`` (``""`` when nobody)."""
    return " and ".join(
        who for who, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit
    )


def warn_if_readable(path: str, *, what: str) -> bool:
    """Log a WARNING naming ``path`` when its group or others may read it, once per file.

    Args:
        path: The file (a private key, a secret).
        what: What it holds, for the message (``private key``, ``secret``).

    Returns:
        Whether a warning was logged by this call.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: modes mean little there
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    who = readers(mode)
    if not who:
        return False
    key = os.path.realpath(path)
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
    logger.warning(
        "%s file %s is readable by %s (mode %04o); run `chmod 600 %s`",
        what,
        path,
        who,
        stat.S_IMODE(mode),
        path,
    )
    return True
