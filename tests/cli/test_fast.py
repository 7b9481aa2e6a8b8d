"""The fast start's hand-read command line: the plain forms, and nothing it cannot mirror."""

from __future__ import annotations

import pytest

from tokenrack.cli.fast import _parse


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["token", "billing"],
            {"command": "token", "profile": "billing", "flags": set(), "config": None},
        ),
        (
            ["--config", "c.yaml", "token", "billing", "--json"],
            {"config": "c.yaml", "flags": {"--json"}},
        ),
        (
            ["--config=c.yaml", "token", "--header", "billing"],
            {"config": "c.yaml", "flags": {"--header"}, "profile": "billing"},
        ),
        (["token", "billing", "--min-ttl", "30"], {"min_ttl": 30.0}),
        (["token", "billing", "--min-ttl=1.5"], {"min_ttl": 1.5}),
        (["--profile", "billing", "token"], {"profile": "billing"}),
        (
            ["exec", "billing", "--env", "T", "--", "cmd", "--json", "-v"],
            {"command": "exec", "env": "T", "argv": ["cmd", "--json", "-v"]},
        ),
        (
            ["exec", "billing", "--keep-env", "--", "cmd"],
            {"command": "exec", "flags": {"--keep-env"}, "argv": ["cmd"]},
        ),
    ],
)
def test_plain_forms(
    argv: list[str], expected: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENRACK_PROFILE", raising=False)
    parsed = _parse(argv)
    assert parsed is not None
    for key, value in expected.items():
        assert parsed[key] == value, key


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "token", "billing"],
        ["token", "billing", "--force-refresh"],
        ["token", "billing", "--json", "--header"],
        ["token", "billing", "--json", "--format", "env"],
        ["token", "billing", "--format", "yaml"],
        ["token", "billing", "--min-ttl", "-5"],
        ["token", "billing", "--min-ttl", "nan"],
        ["exec", "billing", "--env", "PATH", "--", "cmd"],
        ["exec", "billing", "--env", "1BAD", "--", "cmd"],
        ["token", "billing", "other"],
        ["token", "billing", "--min-ttl", "soon"],
        ["token", "billing", "--min-ttl"],
        ["exec", "billing"],
        ["exec", "billing", "--json", "--", "cmd"],
        ["exec", "billing", "--keep-env=yes", "--", "cmd"],
        ["token", "billing", "--", "cmd"],
        ["profiles"],
        ["--verbose", "exec", "b", "--", "x"],
        [],
    ],
)
def test_everything_else_goes_to_the_full_command_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENRACK_PROFILE", raising=False)
    assert _parse(argv) is None


def test_no_profile_means_the_configs_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENRACK_PROFILE", raising=False)
    parsed = _parse(["token"])
    assert parsed is not None and parsed["profile"] is None  # the snapshot's default_profile
    parsed = _parse(["exec", "--", "cmd"])
    assert parsed is not None and parsed["profile"] is None


@pytest.mark.parametrize(
    ("argv", "output"),
    [
        (["token", "b"], None),
        (["token", "b", "--json"], "json"),
        (["token", "b", "--header"], "header"),
        (["token", "b", "--format", "env"], "env"),
        (["token", "b", "--format=exec-credential"], "exec-credential"),
    ],
)
def test_formats_and_their_aliases(argv: list[str], output: str | None) -> None:
    parsed = _parse(argv)
    assert parsed is not None and parsed.get("format") == output


def test_profile_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENRACK_PROFILE", "from-env")
    parsed = _parse(["token"])
    assert parsed is not None and parsed["profile"] == "from-env"
    parsed = _parse(["token", "explicit"])
    assert parsed is not None and parsed["profile"] == "explicit"


def test_every_option_in_the_tables_is_one_the_full_parser_knows() -> None:
    # The fast path may only mirror the full command line, never add to it.
    from tokenrack.cli.fast import _COMMAND_OPTIONS, _GLOBAL_OPTIONS
    from tokenrack.cli.main import build_parser

    parser = build_parser()
    before = [word for option in _GLOBAL_OPTIONS for word in (option, "value")]
    for command, options in _COMMAND_OPTIONS.items():
        for option, read in options.items():
            value = {"--format": "json", "--env": "API_TOKEN"}.get(option, "1")
            after = [option, value] if read is not None else [option]
            parsed = parser.parse_args([*before, command, "profile", *after])
            assert parsed.command == command, option
