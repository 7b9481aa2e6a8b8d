"""The fast start of ``tokenrack token`` and ``exec``: serve a cached token and leave.

Reads the command line by hand (argparse alone costs more than the rest), and only the
plain forms::

    tokenrack [-q] [--config PATH] [--profile NAME] token [PROFILE]
        [--format F | --json | --header] [--min-ttl S]
    tokenrack [-q] [--config PATH] [--profile NAME] exec [PROFILE] [--env NAME] [--keep-env]
        -- CMD…

``-q``/``--quiet`` is accepted as it costs nothing here: a warm call logs no warning to
silence (an error, such as an unmet ``--min-ttl``, is printed either way).

With no profile named (nor ``TOKENRACK_PROFILE``), the config's ``default_profile`` as the
last full-path call recorded it in the snapshot.

When the file cache holds a fresh token (see :mod:`tokenrack.cli.warm`), it is printed or
handed to the command; anything else — another command, another option, a cold cache —
returns None and :mod:`tokenrack.cli.main` runs the full command line.
"""

from __future__ import annotations

import os
import sys

__all__ = ["serve"]

_USAGE = 2  # exit_codes.USAGE, without importing tokenrack.errors on the warm path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


def _seconds(text: str) -> float:
    """``--min-ttl``'s value as the full command line reads it; ValueError otherwise."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(text)
    return value


def _format(text: str) -> str:
    from tokenrack.cli.output import FORMATS

    if text not in FORMATS:
        raise ValueError(text)
    return text


def _variable(text: str) -> str:
    from tokenrack.cli.exec_env import variable_problem

    if variable_problem(text) is not None:
        raise ValueError(text)
    return text


# What the fast path understands, as tables: an option maps to the function that reads its
# value (ValueError: leave it to the full command line, which explains), or to None for a
# flag. Anything not here goes to the full command line.
_GLOBAL_OPTIONS: dict[str, Callable[[str], Any]] = {"--config": str, "--profile": str}
_GLOBAL_FLAGS = frozenset({"-q", "--quiet"})
_COMMAND_OPTIONS: dict[str, dict[str, Callable[[str], Any] | None]] = {
    "token": {"--json": None, "--header": None, "--format": _format, "--min-ttl": _seconds},
    "exec": {"--env": _variable, "--keep-env": None},
}
# Flags that are another option's value: --json is --format json.
_FLAG_FORMATS = {"--json": "json", "--header": "header"}
_TAKES_VALUE = set(_GLOBAL_OPTIONS) | {
    name
    for options in _COMMAND_OPTIONS.values()
    for name, read in options.items()
    if read is not None
}


def _split(words: Sequence[str]) -> list[tuple[str, str | None]] | None:
    """``--name value`` and ``--name=value`` as pairs; flags and positionals as (word, None)."""
    items: list[tuple[str, str | None]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
            items.append((name, value))
        elif word in _TAKES_VALUE:
            if index + 1 >= len(words):
                return None
            items.append((word, words[index + 1]))
            index += 1
        else:
            items.append((word, None))
        index += 1
    return items


def _key(option: str) -> str:
    """``--min-ttl`` → ``min_ttl``."""
    return option[2:].replace("-", "_")


def _command(items: list[tuple[str, str | None]], parsed: dict[str, Any]) -> int | None:
    """Read the global options into ``parsed``; the index of the command word, or None."""
    for index, (name, value) in enumerate(items):
        if name in _COMMAND_OPTIONS and value is None:
            parsed["command"] = name
            return index
        if name in _GLOBAL_FLAGS and value is None:
            parsed["flags"].add(name)
            continue
        if name not in _GLOBAL_OPTIONS or value is None:
            return None
        parsed[_key(name)] = value
    return None


def _command_options(
    items: list[tuple[str, str | None]], command: str, parsed: dict[str, Any]
) -> bool:
    """Read the command's options and positionals into ``parsed``; False on anything else."""
    options = _COMMAND_OPTIONS[command]
    positionals: list[str] = []
    for name, value in items:
        if value is None and not name.startswith("-"):
            positionals.append(name)
            continue
        if name not in options:
            return False
        read = options[name]
        if read is None:
            if value is not None:
                return False
            parsed["flags"].add(name)
            continue
        try:
            parsed[_key(name)] = read(str(value))
        except ValueError:
            return False
    if positionals:
        parsed["positional"] = positionals[0]
    formats = [_FLAG_FORMATS[flag] for flag in parsed["flags"] if flag in _FLAG_FORMATS]
    if "format" in parsed:
        formats.append(parsed["format"])
    if formats:
        parsed["format"] = formats[0]
    return len(positionals) <= 1 and len(formats) <= 1


def _parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """The plain forms as a dict; None for anything the full command line must read."""
    words = list(argv)
    cut = words.index("--") if "--" in words else len(words)
    # Everything after the first "--" is exec's command, verbatim.
    rest = words[cut + 1 :]
    items = _split(words[:cut])
    if items is None:
        return None
    parsed: dict[str, Any] = {
        "config": None,
        "profile": os.environ.get("TOKENRACK_PROFILE"),
        "flags": set(),
    }
    index = _command(items, parsed)
    if index is None or not _command_options(items[index + 1 :], parsed["command"], parsed):
        return None
    # exec needs a command after "--"; token takes none.
    if bool(rest) != (parsed["command"] == "exec"):
        return None
    parsed["argv"] = rest
    # None: the config's default_profile, if the snapshot knows it.
    parsed["profile"] = parsed.pop("positional", None) or parsed["profile"] or None
    return parsed


def serve(argv: Sequence[str]) -> int | None:
    """Serve the command from the file cache; None when the full command line must run."""
    parsed = _parse(argv)
    if parsed is None:
        return None
    config = parsed["config"]
    if config is None:
        from tokenrack.config.discover import discover_config_path
        from tokenrack.errors import ConfigError

        try:
            config = str(discover_config_path())
        except ConfigError:
            return None
    from tokenrack.cli.warm import cached_fields

    fields = cached_fields(config, parsed["profile"], min_ttl=parsed.get("min_ttl"))
    if fields is None:
        return None
    if "min_ttl_unmet" in fields:
        from tokenrack.cli.output import min_ttl_unmet

        message = min_ttl_unmet(fields["profile"], parsed["min_ttl"], fields["min_ttl_unmet"])
        print(f"tokenrack: {message}", file=sys.stderr)
        return _USAGE
    if parsed["command"] == "exec":
        from tokenrack.cli.token_cmd import exec_with

        drop = () if "--keep-env" in parsed["flags"] else fields["exec_drop"]
        return exec_with(
            parsed["argv"],
            parsed.get("env", "TOKENRACK_TOKEN"),
            fields["access_token"],
            drop=drop,
            expires_at=fields["expires_at"],
        )
    from tokenrack.cli.output import print_token

    return print_token(fields, parsed.get("format", "raw"))
