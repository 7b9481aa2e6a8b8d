"""The fast start of ``tokenrack token`` and ``exec``: serve a cached token and leave.

Reads the command line by hand (argparse alone costs more than the rest), and only the
plain forms::

    tokenrack [--config PATH] [--profile NAME] token [PROFILE] [--json | --header] [--min-ttl S]
    tokenrack [--config PATH] [--profile NAME] exec PROFILE [--env NAME] -- CMD ARGS…

When the file cache holds a fresh token (see :mod:`tokenrack.cli.warm`), it is printed or
handed to the command; anything else — another command, another option, a cold cache —
returns None and :mod:`tokenrack.cli.main` runs the full command line.
"""

from __future__ import annotations

import os

__all__ = ["serve"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_TAKES_VALUE = {"--config", "--profile", "--min-ttl", "--env"}


def _split(words: Sequence[str]) -> list[tuple[str, str | None]] | None:
    """``--name value`` and ``--name=value`` as pairs; positionals as (word, None)."""
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
        elif word.startswith("-"):
            items.append((word, None))
        else:
            items.append((word, None))
        index += 1
    return items


def _parse(argv: Sequence[str]) -> dict[str, Any] | None:
    words = list(argv)
    command_line, rest = (words, [])
    if "--" in words:
        cut = words.index("--")
        command_line, rest = words[:cut], words[cut + 1 :]
    items = _split(command_line)
    if items is None:
        return None
    parsed: dict[str, Any] = {"config": None, "profile": os.environ.get("TOKENRACK_PROFILE")}
    command = None
    flags: set[str] = set()
    for name, value in items:
        if command is None:
            if name in ("--config", "--profile") and value is not None:
                parsed[name[2:]] = value
            elif name in ("token", "exec") and value is None:
                command = name
            else:
                return None
        elif value is None and not name.startswith("-"):
            if "positional" in parsed:
                return None
            parsed["positional"] = name
        elif name in ("--json", "--header") and value is None and command == "token":
            flags.add(name)
        elif name == "--min-ttl" and value is not None and command == "token":
            try:
                parsed["min_ttl"] = float(value)
            except ValueError:
                return None
        elif name == "--env" and value is not None and command == "exec":
            parsed["env"] = value
        else:
            return None
    if command is None or len(flags) > 1 or (command == "exec" and not rest):
        return None
    if command == "token" and rest:
        return None
    parsed.update(command=command, flags=flags, argv=rest)
    parsed["profile"] = parsed.pop("positional", None) or parsed["profile"]
    return parsed if parsed["profile"] else None


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
    if parsed["command"] == "exec":
        from tokenrack.cli.token_cmd import exec_with

        return exec_with(
            parsed["argv"], parsed.get("env", "TOKENRACK_TOKEN"), fields["access_token"]
        )
    import json

    flags = parsed["flags"]
    if "--json" in flags:
        from tokenrack.cli.output import token_document

        document = token_document(
            **{
                k: fields[k]
                for k in ("access_token", "token_type", "expires_at", "scopes", "extra")
            }
        )
        print(json.dumps(document, indent=2))
    elif "--header" in flags:
        from tokenrack.cli.output import header_line

        print(header_line(fields["token_type"], fields["access_token"]))
    else:
        print(fields["access_token"])
    return 0
