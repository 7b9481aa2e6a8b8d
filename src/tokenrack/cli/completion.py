"""``tokenrack completion bash|zsh|fish``: shell completion, generated from the parser.

The scripts are written from :func:`tokenrack.cli.main.build_parser` when they are printed
(every command, every option, every choice), so they cannot drift from the command line.
Profile names come from ``tokenrack profiles --names`` with the ``--config`` typed so far.
The zsh script loads zsh's ``bashcompinit`` and reuses the bash function (the tests run
both shells when they are installed).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = [
    "SHELLS",
    "Command",
    "Option",
    "Positional",
    "command_line",
    "run_completion",
    "script",
]

SHELLS = ("bash", "zsh", "fish")
"""The shells a script is written for."""


@dataclass(frozen=True, slots=True)
class Option:
    """One option as completion sees it.

    Attributes:
        names: Its spellings (``--json``, ``-v``, …).
        value: What its value completes to: ``""`` for a flag, ``"profile"``, ``"file"``,
            ``"words"`` (``choices``), or ``"free"`` (nothing to offer).
        choices: The words, for ``"words"``.
        help: Its help text.
    """

    names: tuple[str, ...]
    value: str
    choices: tuple[str, ...]
    help: str


@dataclass(frozen=True, slots=True)
class Positional:
    """One positional argument: profile names, or words from ``choices``.

    Attributes:
        value: ``"profile"``, ``"words"`` or ``"free"``.
        choices: The words, for ``"words"``.
        repeats: It takes any number of words (``nargs="*"``).
    """

    value: str
    choices: tuple[str, ...]
    repeats: bool


@dataclass(frozen=True, slots=True)
class Command:
    """A command: its name, summary, options and positionals, in order."""

    name: str
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]


def _help(action: argparse.Action) -> str:
    return "" if action.help in (None, argparse.SUPPRESS) else str(action.help)


def _option(action: argparse.Action) -> Option:
    choices = tuple(str(choice) for choice in action.choices or ())
    if action.nargs == 0:
        value = ""
    elif choices:
        value = "words"
    elif action.dest in ("default_profile", "profile") or action.metavar == "PROFILE":
        value = "profile"
    elif action.metavar == "PATH":
        value = "file"
    else:
        value = "free"
    return Option(tuple(action.option_strings), value, choices, _help(action))


def _positional(action: argparse.Action) -> Positional:
    choices = tuple(str(choice) for choice in action.choices or ())
    if choices:
        value = "words"
    elif action.dest in ("profile", "profiles"):
        value = "profile"
    else:
        value = "free"
    return Positional(value, choices, action.nargs in ("*", "+"))


def command_line(
    parser: argparse.ArgumentParser,
) -> tuple[tuple[Option, ...], tuple[Command, ...]]:
    """The global options and the commands of ``parser``, as completion sees them.

    Hidden options (``help=argparse.SUPPRESS``) are left out. argparse has no public way
    to walk a parser, so this reads its ``_actions`` (stable since Python 3.2).
    """
    global_options: list[Option] = []
    commands: list[Command] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: _help(choice) for choice in action._choices_actions}
            for name, sub in action.choices.items():
                options = tuple(
                    _option(a)
                    for a in sub._actions
                    if a.option_strings and a.help is not argparse.SUPPRESS
                )
                positionals = tuple(_positional(a) for a in sub._actions if not a.option_strings)
                commands.append(Command(name, summaries.get(name, ""), options, positionals))
        elif action.option_strings and action.help is not argparse.SUPPRESS:
            global_options.append(_option(action))
    return tuple(global_options), tuple(commands)


def _words(values: tuple[str, ...] | list[str]) -> str:
    return " ".join(values)


def _bash_reply(words: str) -> str:
    return f'COMPREPLY=($(compgen -W "{words}" -- "$cur"))'


def _bash_value_case(options: tuple[Option, ...], prefix: str) -> list[str]:
    """``case`` branches completing an option's value (``prefix`` is ``"cmd:"`` or ``""``)."""
    lines = []
    for option in options:
        if not option.value:
            continue
        pattern = "|".join(f"{prefix}{name}" for name in option.names)
        if option.value == "words":
            reply = _bash_reply(_words(option.choices))
        elif option.value == "profile":
            reply = _bash_reply("$(_tokenrack_profiles)")
        elif option.value == "file":
            reply = 'COMPREPLY=($(compgen -f -- "$cur"))'
        else:
            reply = "COMPREPLY=()"
        lines.append(f"        {pattern}) {reply}; return;;")
    return lines


def _bash_positional_case(command: Command) -> list[str]:
    lines = []
    for index, positional in enumerate(command.positionals):
        if positional.value == "free":
            continue
        label = f"{command.name}:*" if positional.repeats else f"{command.name}:{index}"
        if positional.value == "words":
            reply = _bash_reply(_words(positional.choices))
        else:
            reply = _bash_reply("$(_tokenrack_profiles)")
        lines.append(f"        {label}) {reply};;")
    return lines


def _bash(global_options: tuple[Option, ...], commands: tuple[Command, ...]) -> str:
    names = _words([command.name for command in commands])
    global_words = _words([name for option in global_options for name in option.names])
    global_takes = "|".join(n for o in global_options if o.value for n in o.names) or "--none"
    command_takes = (
        "|".join(f"{c.name}:{n}" for c in commands for o in c.options if o.value for n in o.names)
        or "--none"
    )
    option_lists = [
        f"        {c.name}) {_bash_reply(_words([n for o in c.options for n in o.names]))};;"
        for c in commands
    ]
    lines = [
        "# tokenrack completion for bash (generated from the tokenrack command line)",
        "_tokenrack_profiles() {",
        '    tokenrack "${_tokenrack_config[@]}" profiles --names 2>/dev/null',
        "}",
        "_tokenrack() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local command="" word i=1 npos=0',
        "    local -a _tokenrack_config=()",
        "    while ((i < COMP_CWORD)); do",
        '        word="${COMP_WORDS[i]}"',
        '        if [[ "$word" == "--" ]]; then',
        "            # exec's command and its arguments follow",
        '            COMPREPLY=($(compgen -c -f -- "$cur")); return',
        "        fi",
        '        if [[ "$word" == --config ]]; then',
        '            _tokenrack_config=(--config "${COMP_WORDS[i+1]}")',
        '        elif [[ "$word" == --config=* ]]; then',
        '            _tokenrack_config=("$word")',
        "        fi",
        '        if [[ -z "$command" ]]; then',
        '            case "$word" in',
        f"                {global_takes}) ((i += 2)); continue;;",
        "                -*) ;;",
        '                *) command="$word";;',
        "            esac",
        "        else",
        '            case "$command:$word" in',
        f"                {command_takes}) ((i += 2)); continue;;",
        "                *:-*) ;;",
        "                *) ((npos += 1));;",
        "            esac",
        "        fi",
        "        ((i += 1))",
        "    done",
        '    if [[ -z "$command" ]]; then',
        '        case "$prev" in',
        *_bash_value_case(global_options, ""),
        "        esac",
        f"        {_bash_reply(names + ' ' + global_words)}; return",
        "    fi",
        '    case "$command:$prev" in',
        *[line for c in commands for line in _bash_value_case(c.options, f"{c.name}:")],
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        case "$command" in',
        *option_lists,
        "        esac",
        "        return",
        "    fi",
        '    case "$command:$npos" in',
        *[line for c in commands for line in _bash_positional_case(c)],
        "    esac",
        "}",
        "complete -F _tokenrack tokenrack",
    ]
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(option: Option, condition: str) -> str:
    parts = ["complete -c tokenrack", f"-n {_fish_quote(condition)}"]
    for name in option.names:
        parts.append(f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}")
    if option.value == "words":
        parts.append(f"-x -a {_fish_quote(_words(option.choices))}")
    elif option.value == "profile":
        parts.append("-x -a '(__tokenrack_profiles)'")
    elif option.value == "file":
        parts.append("-r -F")
    elif option.value == "free":
        parts.append("-x")
    if option.help:
        parts.append(f"-d {_fish_quote(option.help)}")
    return " ".join(parts)


def _fish_positionals(command: Command) -> list[str]:
    seen = f"__fish_seen_subcommand_from {command.name}"
    lines = []
    words: tuple[str, ...] = ()
    for positional in command.positionals:
        condition = seen
        if words:  # after a word positional (cache list|purge): once one was typed
            condition += f"; and __fish_seen_subcommand_from {_words(words)}"
        if positional.value == "words":
            condition += f"; and not __fish_seen_subcommand_from {_words(positional.choices)}"
            candidates = _fish_quote(_words(positional.choices))
            words = positional.choices
        elif positional.value == "profile":
            candidates = "'(__tokenrack_profiles)'"
        else:
            continue
        lines.append(f"complete -c tokenrack -n {_fish_quote(condition)} -a {candidates}")
        if positional.value == "profile":
            break  # what follows a profile is not completed
    return lines


def _fish(global_options: tuple[Option, ...], commands: tuple[Command, ...]) -> str:
    names = _words([command.name for command in commands])
    lines = [
        "# tokenrack completion for fish (generated from the tokenrack command line)",
        "function __tokenrack_profiles",
        "    set -l words (commandline -opc)",
        "    set -l config",
        "    for i in (seq (count $words))",
        "        if test $words[$i] = --config; and test $i -lt (count $words)",
        "            set config --config $words[(math $i + 1)]",
        "        else if string match -q -- '--config=*' $words[$i]",
        "            set config $words[$i]",
        "        end",
        "    end",
        "    tokenrack $config profiles --names 2>/dev/null",
        "end",
        "complete -c tokenrack -f",
        *[
            f"complete -c tokenrack -n {_fish_quote('not __fish_seen_subcommand_from ' + names)}"
            f" -a {command.name} -d {_fish_quote(command.help)}"
            for command in commands
        ],
        *[
            _fish_option(option, "not __fish_seen_subcommand_from " + names)
            for option in global_options
        ],
    ]
    for command in commands:
        seen = f"__fish_seen_subcommand_from {command.name}"
        lines.extend(_fish_option(option, seen) for option in command.options)
        lines.extend(_fish_positionals(command))
    return "\n".join(lines) + "\n"


def script(shell: str, parser: argparse.ArgumentParser | None = None) -> str:
    """The completion script for ``shell`` (``bash``, ``zsh`` or ``fish``).

    Args:
        shell: One of :data:`SHELLS`.
        parser: The command line to complete (:func:`~tokenrack.cli.main.build_parser`'s
            when omitted).

    Raises:
        ValueError: ``shell`` is not one of :data:`SHELLS`.
    """
    if parser is None:
        from tokenrack.cli.main import build_parser

        parser = build_parser()
    global_options, commands = command_line(parser)
    if shell == "bash":
        return _bash(global_options, commands)
    if shell == "zsh":
        header = "#compdef tokenrack\nautoload -U +X bashcompinit && bashcompinit\n"
        return header + _bash(global_options, commands)
    if shell == "fish":
        return _fish(global_options, commands)
    raise ValueError(f"no completion for {shell!r}; expected one of {', '.join(SHELLS)}")


def run_completion(args: argparse.Namespace) -> int:
    """Print the script; install with ``eval "$(tokenrack completion bash)"``."""
    print(script(args.shell), end="")
    return 0
