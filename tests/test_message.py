"""TokenRequest: building, redacting and encoding requests."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from tokenrack.oauth.message import TokenRequest
from tokenrack.secret.value import Secret


def request() -> TokenRequest:
    return TokenRequest(
        url="https://idp.test/token?tenant=1",
        form=(("grant_type", "client_credentials"), ("resource", "a"), ("resource", "b")),
    ).with_form(("client_secret", Secret("hunter2")))


def test_form_encoding_keeps_order_and_repeats() -> None:
    wire = request().encode()
    assert wire.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(wire.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("resource", "a"),
        ("resource", "b"),
        ("client_secret", "hunter2"),
    ]
    assert wire.url == "https://idp.test/token?tenant=1"


def test_json_body_groups_repeated_names() -> None:
    wire = TokenRequest(url="https://x/t", form=request().form, body_format="json").encode()
    assert wire.headers["Content-Type"] == "application/json"
    assert json.loads(wire.body) == {
        "grant_type": "client_credentials",
        "resource": ["a", "b"],
        "client_secret": "hunter2",
    }


def test_query_parameters_appended_to_existing_query() -> None:
    wire = TokenRequest(url="https://x/t?v=1", form=(("a", "1 2"),), params_in="query").encode()
    assert wire.url == "https://x/t?v=1&a=1+2"
    assert wire.body == b""


def test_redaction_hides_secrets_only() -> None:
    req = request().with_header("Authorization", Secret("Basic zzz")).with_header("X-Trace", "t")
    assert ("client_secret", "***") in req.redacted_form()
    assert ("grant_type", "client_credentials") in req.redacted_form()
    assert req.redacted_headers() == [("Authorization", "***"), ("X-Trace", "t")]
    assert "hunter2" not in repr(req) and "zzz" not in repr(req)
    assert sorted(req.secret_values()) == ["Basic zzz", "hunter2"]


def test_with_header_replaces_case_insensitively() -> None:
    req = request().with_header("accept", "a").with_header("Accept", "b")
    assert req.header("ACCEPT") == "b"
    assert len(req.headers) == 1


def test_without_form_drops_every_value_of_a_name() -> None:
    assert request().without_form("resource").form_values("resource") == []


def test_encoded_request_repr_hides_body_and_headers() -> None:
    wire = request().with_header("Authorization", Secret("Basic zzz")).encode()
    assert "hunter2" not in repr(wire) and "zzz" not in repr(wire)
