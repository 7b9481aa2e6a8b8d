"""Config files others can touch: warned about when readable, refused commands when writable.

A warning when others can read a file holding inline secrets; a refusal when others can
write a file that runs ``{command:}`` secrets.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from typing import Any

from tokenrack.config.assemble import Config
from tokenrack.config.discover import untrusted_reason
from tokenrack.errors import ConfigError
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.log import get_logger

__all__ = [
    "command_secret_keys",
    "inline_secret_keys",
    "refuse_untrusted_commands",
    "warn_if_exposed",
]

logger = get_logger("tokenrack.config")


def inline_secret_keys(config: Config) -> list[str]:
    """The JSON paths of secrets written in the file itself (not references)."""
    # From the file as written: building 10,000 profiles to look at them would cost seconds.
    return [
        path
        for path, value in config.written_secrets(inline_only=True)
        if isinstance(value, Secret) and ".cache." not in path
    ]


def warn_if_exposed(path: str, config: Config) -> bool:
    """Warn when ``path`` holds inline secrets and its group or others may read it.

    Returns:
        Whether a warning was logged.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return False  # the file's mode first: a private file's secrets need no looking at
    keys = inline_secret_keys(config)
    if not keys:
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


def _command_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, SecretRef):
        if value.source == "command":
            yield path
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _command_paths(inner, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            yield from _command_paths(inner, f"{path}[{index}]")


def command_secret_keys(config: Config) -> list[str]:
    """The JSON paths of ``{command: …}`` secrets (``cache.…`` ones too)."""
    return [
        found for path, value in config.written_secrets() for found in _command_paths(value, path)
    ]


def refuse_untrusted_commands(path: str, config: Config) -> None:
    """Refuse a config that runs ``{command: …}`` secrets when someone else may write it.

    A discovered config in that state is never loaded (it is skipped); this guards one
    named with ``--config`` or ``TOKENRACK_CONFIG``, which is otherwise used, with a
    warning naming it and why.

    Raises:
        ConfigError: ``path`` has command secrets and is not yours alone; names the file,
            the keys and why.
    """
    reason = untrusted_reason(path)
    if reason is None:
        return
    commands = command_secret_keys(config)
    if not commands:
        logger.warning(
            "using config %s although %s: it was named explicitly; "
            "its {command: …} secrets would be refused",
            path,
            reason,
        )
        return
    raise ConfigError(
        f"refusing to run the {{command: …}} secrets of {path} ({', '.join(commands)}): "
        f"{reason}, so someone else may have written the command; "
        f"make the file yours alone (chown, chmod go-w) to run it",
        file=path,
    )
