"""A warning for config files that hold a secret and can be read by others."""

from __future__ import annotations

import os
import stat

from tokenrack.config.assemble import Config
from tokenrack.secret.value import Secret
from tokenrack.util.log import get_logger

__all__ = ["inline_secret_keys", "warn_if_exposed"]

logger = get_logger("tokenrack.config")


def inline_secret_keys(config: Config) -> list[str]:
    """The JSON paths of secrets written in the file itself (not references)."""
    return [
        f"profiles.{name}.{key}"
        for name, profile in config.profiles.items()
        for key in sorted(profile.secret_keys)
        if isinstance(profile.options.get(key), Secret)
    ]


def warn_if_exposed(path: str, config: Config) -> bool:
    """Warn when ``path`` holds inline secrets and its group or others may read it.

    Returns:
        Whether a warning was logged.
    """
    keys = inline_secret_keys(config)
    if not keys:
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return False
    readers = " and ".join(
        who for who, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit
    )
    logger.warning(
        "%s holds secrets inline (%s) and %s can read it; run `chmod 600 %s`, or better, "
        "replace them with {env: …} or {file: …} references",
        path,
        ", ".join(keys),
        readers,
        path,
    )
    return True
