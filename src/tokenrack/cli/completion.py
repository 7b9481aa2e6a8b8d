"""``tokenrack completion bash|zsh``: shell completion, profile names included.

The zsh script loads zsh's ``bashcompinit`` and reuses the bash function, so both shells
complete the same way (and the tests, which run bash, cover both). The emulator's
personalities are those installed when the script is printed (their entry points).
"""

from __future__ import annotations

import argparse

__all__ = ["BASH", "ZSH", "run_completion", "script"]

BASH = r"""
_tokenrack() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local commands="token exec inspect explain profiles providers check schema emulator completion"
    local global="--config --profile --verbose --version --help"
    local config=""
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ "${COMP_WORDS[i]}" == "--config" ]]; then config="--config ${COMP_WORDS[i+1]}"; fi
    done
    if [[ "$prev" == "--config" ]]; then
        COMPREPLY=($(compgen -f -- "$cur")); return
    fi
    if [[ "$prev" == "--profile" ]]; then
        COMPREPLY=($(compgen -W "$(tokenrack $config profiles --names 2>/dev/null)" -- "$cur")); return
    fi
    local command=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            token|exec|inspect|explain|profiles|providers|check|schema|emulator|completion)
                command="${COMP_WORDS[i]}"; break;;
        esac
    done
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "$commands $global" -- "$cur")); return
    fi
    case "$command" in
        token|exec|inspect|explain|check)
            if [[ "$cur" == -* ]]; then
                case "$command" in
                    token) COMPREPLY=($(compgen -W "--json --header --force-refresh --min-ttl" -- "$cur"));;
                    exec) COMPREPLY=($(compgen -W "--env --keep-env" -- "$cur"));;
                    inspect) COMPREPLY=($(compgen -W "--token --json" -- "$cur"));;
                    check) COMPREPLY=($(compgen -W "--fetch" -- "$cur"));;
                esac
            else
                COMPREPLY=($(compgen -W "$(tokenrack $config profiles --names 2>/dev/null)" -- "$cur"))
            fi;;
        completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur"));;
        profiles|providers) COMPREPLY=($(compgen -W "--json" -- "$cur"));;
        emulator)
            if [[ "$prev" == "--personality" ]]; then
                COMPREPLY=($(compgen -W "@PERSONALITIES@" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--port --personality --client-id --client-secret --expires-in" -- "$cur"))
            fi;;
    esac
}
complete -F _tokenrack tokenrack
""".lstrip()
"""The bash script, with ``@PERSONALITIES@`` where :func:`script` puts the names."""

ZSH = "#compdef tokenrack\nautoload -U +X bashcompinit && bashcompinit\n" + BASH
"""The zsh script: bash's, through zsh's ``bashcompinit``."""


def script(shell: str) -> str:
    """The completion script for ``shell`` (``bash`` or ``zsh``), personalities filled in."""
    from tokenrack.cli.emulator_cmd import PERSONALITIES

    return (BASH if shell == "bash" else ZSH).replace("@PERSONALITIES@", " ".join(PERSONALITIES))


def run_completion(args: argparse.Namespace) -> int:
    """Print the script; install with ``eval "$(tokenrack completion bash)"``."""
    print(script(args.shell), end="")
    return 0
