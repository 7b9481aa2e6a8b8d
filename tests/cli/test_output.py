"""How the CLI prints tokens and tables (one printer for the warm and the full path)."""

from __future__ import annotations

import json
import time

import pytest

from tokenrack.cli.output import print_token, table

FIELDS = {
    "access_token": "tok-123",
    "token_type": "Bearer",
    "expires_at": 1_800_000_000.0,
    "scopes": ("read",),
    "extra": {"instance_url": "https://x.example"},
    # A cached record's times ride along on the warm path; they are not printed.
    "obtained_at": 1.0,
    "lifetime": 2.0,
}


def test_print_token_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert print_token(FIELDS) == 0
    assert capsys.readouterr().out == "tok-123\n"


def test_print_token_as_a_header(capsys: pytest.CaptureFixture[str]) -> None:
    print_token(FIELDS, "header")
    assert capsys.readouterr().out == "Authorization: Bearer tok-123\n"


def test_print_token_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    print_token({**FIELDS, "expires_at": time.time() + 600}, "json")
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {
        "access_token",
        "token_type",
        "expires_at",
        "expires_in",
        "scopes",
        "extra",
    }
    assert document["access_token"] == "tok-123" and document["scopes"] == ["read"]
    assert 590 <= document["expires_in"] <= 600


def test_table_pads_every_column_but_the_last() -> None:
    rendered = table(("A", "LONGER", "LAST"), [("xyz", "1", "tail one"), ("x", None, "t")])
    assert rendered.splitlines() == [
        "A    LONGER  LAST",
        "xyz  1       tail one",
        "x    None    t",
    ]


def test_a_table_without_rows_is_its_header() -> None:
    assert table(("PROFILE", "STATE"), []) == "PROFILE  STATE"


def test_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    from tokenrack.cli.output import FORMATS, format_token

    shown = {output: format_token(FIELDS, output) for output in FORMATS}
    assert shown["raw"] == "tok-123"
    assert shown["header"] == "Authorization: Bearer tok-123"
    assert json.loads(shown["json"])["expires_at"] == "2027-01-15T08:00:00Z"
    assert shown["env"] == "TOKENRACK_TOKEN=tok-123\nTOKENRACK_TOKEN_EXPIRES_AT=1800000000"
    assert json.loads(shown["exec-credential"])["status"] == {
        "token": "tok-123",
        "expirationTimestamp": "2027-01-15T08:00:00Z",
    }
    with pytest.raises(ValueError, match="expected one of: raw, json"):
        format_token(FIELDS, "yaml")


@pytest.mark.parametrize(
    ("info", "version"),
    [
        ("", "client.authentication.k8s.io/v1"),
        ("not json", "client.authentication.k8s.io/v1"),
        (
            '{"apiVersion": "client.authentication.k8s.io/v1beta1"}',
            "client.authentication.k8s.io/v1beta1",
        ),
        ('{"apiVersion": "client.authentication.k8s.io/v2"}', "client.authentication.k8s.io/v1"),
        ("[1]", "client.authentication.k8s.io/v1"),
    ],
)
def test_exec_credential_answers_in_the_version_kubectl_asked_for(info: str, version: str) -> None:
    from tokenrack.cli.output import exec_credential

    document = exec_credential("t", 0.0, environ={"KUBERNETES_EXEC_INFO": info})
    assert document["apiVersion"] == version and document["kind"] == "ExecCredential"
    assert document["status"]["expirationTimestamp"] == "1970-01-01T00:00:00Z"
