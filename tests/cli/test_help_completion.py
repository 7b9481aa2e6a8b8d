"""Help for every command and option, a bare ``tokenrack``, and completion generated from
the parser for bash, zsh and fish (run in the real shells)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tokenrack.cli.completion import command_line, script
from tokenrack.cli.main import build_parser

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
BIN = str(Path(sys.executable).parent)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no commands")


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    return [("tokenrack", parser), *_subparsers(parser).items()]


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{name}: {action.option_strings or action.dest}"
        for name, parser in _all_parsers()
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == []


def test_every_command_has_a_summary_a_description_and_an_example() -> None:
    parser = build_parser()
    summaries = {
        choice.dest: choice.help
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
    }
    for name, sub in _subparsers(parser).items():
        assert summaries.get(name), name
        assert sub.description, name
        assert sub.epilog and sub.epilog.startswith("examples:\n  "), name
        assert f"tokenrack {name}" in sub.epilog, name


def test_help_shows_profiles_names() -> None:
    shown = " ".join(
        subprocess.run(
            [TOKENRACK, "profiles", "--help"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "--names print the profile names only" in shown


def test_a_bare_tokenrack_lists_the_commands_and_exits_2() -> None:
    done = subprocess.run([TOKENRACK], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    for name in _subparsers(build_parser()):
        assert f"    {name} " in done.stderr, name
    assert "Exit codes: 0 ok" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_knows_every_command_option_and_choice(shell: str) -> None:
    parser = build_parser()
    text = script(shell, parser)
    for action in parser._actions:
        for spelling in action.option_strings:
            assert spelling.lstrip("-") in text, spelling
    for name, sub in _subparsers(parser).items():
        assert name in text
        for action in sub._actions:
            for spelling in action.option_strings:
                long_or_short = spelling[2:] if spelling.startswith("--") else spelling[1:]
                assert (spelling if shell != "fish" else long_or_short) in text, (name, spelling)
            for choice in action.choices or ():
                assert str(choice) in text, (name, choice)


def test_the_model_follows_the_parser() -> None:
    parser = build_parser()
    global_options, commands = command_line(parser)
    assert [c.name for c in commands] == list(_subparsers(parser))
    assert {n for o in global_options for n in o.names} >= {"--config", "--profile", "-v"}
    cache = next(c for c in commands if c.name == "cache")
    assert [p.value for p in cache.positionals] == ["words", "profile"]
    assert cache.positionals[0].choices == ("list", "purge")


def _write(path: Path, *names: str) -> Path:
    profile = {
        "provider": "generic",
        "token_url": "http://127.0.0.1:9/oauth/token",
        "client_id": "c",
        "client_secret": {"env": "UNSET_FOR_COMPLETION"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, "profiles": dict.fromkeys(names, profile)}))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """``--config``'s file (alpha, beta); the one discovered in the directory has others."""
    _write(tmp_path / "tokenrack.yaml", "billing", "reporting")
    return _write(tmp_path / "elsewhere" / "team.yaml", "alpha", "beta")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENRACK_")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    return env


BASH_CASES = [
    ("tokenrack ca", ["cache"]),
    ("tokenrack cache ''", ["list", "purge"]),
    ("tokenrack cache list ''", ["billing", "reporting"]),
    ("tokenrack cache list --js", ["--json"]),
    ("tokenrack --config CONFIG token ''", ["alpha", "beta"]),
    ("tokenrack --config=CONFIG explain b", ["beta"]),
    ("tokenrack explain re", ["reporting"]),
    ("tokenrack --profile ''", ["billing", "reporting"]),
    ("tokenrack token --format ''", ["raw", "json", "env", "header", "exec-credential"]),
    ("tokenrack token --format env --m", ["--min-ttl"]),
    ("tokenrack exec --e", ["--env"]),
    ("tokenrack exec billing --env X ''", []),
    ("tokenrack check billing ''", ["billing", "reporting"]),
    ("tokenrack completion ''", ["bash", "zsh", "fish"]),
    ("tokenrack --verbose pro", ["profiles", "providers"]),
]


def _cases(config: Path) -> list[tuple[str, list[str]]]:
    return [(words.replace("CONFIG", str(config)), want) for words, want in BASH_CASES]


def test_bash_completes_for_real(tmp_path: Path, config: Path) -> None:
    """In bash itself: commands, subcommands, options, choices and profile names."""
    probe = tmp_path / "probe.sh"
    lines = [script("bash")]
    cases = _cases(config)
    for words, _ in cases:
        lines.append(
            f"COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
            'COMPREPLY=(); _tokenrack; echo "${COMPREPLY[*]}"'
        )
    probe.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["bash", str(probe)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,  # where tokenrack.yaml is discovered when --config is not typed
        check=True,
        timeout=120,
    )
    got = done.stdout.splitlines()
    assert [line.split() for line in got] == [want for _, want in cases], done.stderr


def test_bash_after_double_dash_completes_the_command(tmp_path: Path) -> None:
    probe = tmp_path / "probe.sh"
    probe.write_text(
        script("bash") + "COMP_WORDS=(tokenrack exec billing -- bas); COMP_CWORD=4; "
        '_tokenrack; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", str(probe)], capture_output=True, text=True, check=True)
    assert "bash" in done.stdout.split()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_runs_the_same_function_through_bashcompinit(tmp_path: Path, config: Path) -> None:
    """zsh's bashcompinit runs the function with sh options (0-based arrays); zsh filters."""
    (tmp_path / "completion.zsh").write_text(script("zsh"))
    lines = [
        "autoload -U compinit && compinit -u -D",
        "source ./completion.zsh",
        "emulate sh",
        "setopt kshglob noshglob braceexpand",
    ]
    cases = _cases(config)
    for words, _ in cases:
        lines.append(
            f"COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
            'COMPREPLY=(); _tokenrack; echo "${COMPREPLY[*]}"'
        )
    (tmp_path / "probe.zsh").write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["zsh", "-f", "probe.zsh"],
        capture_output=True,
        text=True,
        env={**_env(), "HOME": str(tmp_path)},
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    got = done.stdout.splitlines()
    assert len(got) == len(cases), done.stderr
    for line, (words, want) in zip(got, cases, strict=True):
        typed = words.split()[-1].strip("'")
        # zsh's compgen leaves the prefix matching to zsh itself.
        assert [word for word in line.split() if word.startswith(typed)] == want, words


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_for_real(tmp_path: Path, config: Path) -> None:
    (tmp_path / "tokenrack.fish").write_text(script("fish"))
    cases = [
        ("tokenrack ca", ["cache"]),
        ("tokenrack cache ", ["list", "purge"]),
        ("tokenrack cache list ", ["billing", "reporting"]),
        (f"tokenrack --config {config} token ", ["alpha", "beta"]),
        (f"tokenrack --config={config} explain b", ["beta"]),
        ("tokenrack token --format ", ["env", "exec-credential", "header", "json", "raw"]),
        ("tokenrack exec --e", ["--env"]),
        ("tokenrack completion ", ["bash", "fish", "zsh"]),
    ]
    commands = [f"source {tmp_path / 'tokenrack.fish'}"]
    for line, _ in cases:
        commands.append(f"complete -C '{line}' | cut -f1 | sort | string join ' '")
    done = subprocess.run(
        ["fish", "--no-config", "-c", "; ".join(commands)],
        capture_output=True,
        text=True,
        env={**_env(), "HOME": str(tmp_path)},
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    assert [line.split() for line in done.stdout.splitlines()] == [want for _, want in cases], (
        done.stderr
    )


def test_an_unknown_shell_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of bash, zsh, fish"):
        script("powershell")
    done = subprocess.run(
        [TOKENRACK, "completion", "powershell"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "invalid choice: 'powershell'" in done.stderr
