"""Secret, Token and the errors never show what they hold."""

from __future__ import annotations

import copy
import pickle

import pytest

from tokenrack.errors import (
    ConfigError,
    ConfigProblem,
    InvalidClientError,
    TokenEndpointUnavailableError,
    TokenRequestError,
    error_class_for,
    scrub_error,
)
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.token import Token


def test_secret_never_shows_its_value() -> None:
    secret = Secret("pa55word")
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "%s" % secret,
        "{:>20}".format(secret),
    ):
        assert "pa55word" not in text
    assert repr(secret) == "Secret('***')"
    assert secret.reveal() == "pa55word"


def test_secret_refuses_pickling_and_compares_by_value() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert copy.deepcopy(Secret("a")).reveal() == "a"
    with pytest.raises(TypeError):
        Secret(5)  # type: ignore[arg-type]


def test_secret_ref_describes_where_not_what() -> None:
    assert SecretRef("env", "BILLING").describe() == "env 'BILLING'"


def test_token_repr_hides_the_token() -> None:
    token = Token("tok-value", "Bearer", 100.0, ("a",), {"instance_url": "https://i"})
    assert "tok-value" not in repr(token) and "tok-value" not in str(token)
    assert "instance_url" in repr(token)
    assert token.authorization == "Bearer tok-value"
    assert token.expires_in(now=40.0) == 60.0


def test_config_error_lists_every_problem() -> None:
    error = ConfigError(
        problems=[
            ConfigProblem("profiles.a.x", "unknown key"),
            ConfigProblem("profiles.b.y", "bad"),
        ],
        file="t.yaml",
    )
    assert str(error) == "t.yaml: 2 problems:\n  profiles.a.x: unknown key\n  profiles.b.y: bad"
    assert error.path == "profiles.a.x"


def test_error_classes_by_rfc_code() -> None:
    assert error_class_for("invalid_client") is InvalidClientError
    assert error_class_for("something_else") is TokenRequestError


def test_profile_prefixes_token_errors() -> None:
    error = TokenEndpointUnavailableError(
        "HTTP 503", attempts=4, last_status=503, url="https://x/t"
    )
    error.profile = "billing"
    assert (
        str(error)
        == "profile 'billing': token endpoint https://x/t unavailable after 4 attempts: HTTP 503"
    )


def test_scrub_error_removes_echoed_secrets() -> None:
    error = InvalidClientError(
        status=401,
        error="invalid_client",
        error_description="secret zzz-top is wrong",
        details={"echo": "zzz-top"},
    )
    scrub_error(error, ["zzz-top"])
    assert "zzz-top" not in str(error) and "zzz-top" not in repr(error)
    assert error.error_description == "secret *** is wrong" and error.details == {"echo": "***"}


def test_scrub_error_cleans_dict_keys_and_takes_a_masking_function() -> None:
    """F7: a secret echoed as a JSON key is masked in details; a Scrubber masks its forms."""
    from urllib.parse import quote

    from tokenrack.secret.scrub import Scrubber

    error = TokenRequestError(
        status=400,
        error="invalid_request",
        error_description=f"got {quote('p@ss w/rd', safe='')}",
        details={"p@ss w/rd": "unexpected", "PASS": "P@SS W/RD"},
    )
    scrub_error(error, Scrubber([Secret("p@ss w/rd")]))
    assert error.details == {"***": "unexpected", "PASS": "***"}
    assert "p%40ss" not in str(error) and error.error_description == "got ***"


def test_without_frames_drops_traceback_and_chain() -> None:
    """F4: a wrapped error keeps its message, not the frames (and chain) it came through."""
    from tokenrack.errors import without_frames

    def inner(material: str) -> None:
        try:
            raise ValueError("inner")
        except ValueError:
            raise KeyError("outer") from None

    try:
        inner("PEM-BODY")
    except KeyError as error:
        stripped = without_frames(error)
    assert stripped.__traceback__ is None and stripped.__context__ is None
    assert stripped.__cause__ is None and str(stripped) == "'outer'"
