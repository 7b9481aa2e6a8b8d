"""Exit codes: every error class maps to one, and ``--help`` lists every code that can occur."""

from __future__ import annotations

import argparse

import pytest

from tokenrack.cli import main as cli_main
from tokenrack.cli.exit_codes import (
    CACHE_OR_SECRET,
    FAILED,
    MEANINGS,
    REJECTED,
    UNAVAILABLE,
    USAGE,
    epilog,
    exit_code,
)
from tokenrack.errors import (
    CacheError,
    ConfigError,
    InvalidClientError,
    SecretError,
    TokenEndpointUnavailableError,
)


class _SubclassedCacheError(CacheError):
    """A backend's own refinement: still a cache failure."""


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CacheError("down", backend="redis"), CACHE_OR_SECRET),
        (_SubclassedCacheError("down", backend="x"), CACHE_OR_SECRET),
        (SecretError("unset"), CACHE_OR_SECRET),
        (ConfigError("bad"), USAGE),
        (InvalidClientError(status=401, error="invalid_client"), REJECTED),
        (TokenEndpointUnavailableError("down", attempts=1), UNAVAILABLE),
        (RuntimeError("a bug"), FAILED),
    ],
)
def test_each_error_maps_to_its_code(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_a_class_merely_named_cacheerror_is_not_a_cache_failure() -> None:
    # Classified by type, not by name: an unrelated class called CacheError is "other".
    stranger = type("CacheError", (Exception,), {})
    assert exit_code(stranger("x")) == FAILED


def test_the_help_epilog_lists_every_code_the_cli_returns() -> None:
    text = " ".join((cli_main.build_parser().epilog or "").split())  # as wrapped for --help
    assert text.startswith(epilog() + ".")
    for code in (0, FAILED, USAGE, REJECTED, UNAVAILABLE, CACHE_OR_SECRET):
        assert f"{code} {MEANINGS[code]}" in text


def test_an_unclassified_error_exits_1_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(cli_main, "_command", lambda name: broken)
    monkeypatch.delenv("TOKENRACK_DEBUG", raising=False)
    assert cli_main.main(["schema"]) == FAILED
    assert "tokenrack: something unexpected" in capsys.readouterr().err
