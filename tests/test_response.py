"""Parsing token endpoint answers (RFC 6749 §5.1 and §5.2)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from tokenrack.errors import (
    InvalidClientError,
    InvalidScopeError,
    TokenRequestError,
    TokenResponseError,
)
from tokenrack.oauth.message import HttpResponse
from tokenrack.oauth.response import MAX_LIFETIME, ResponseFields, parse_token_response, redact_text

SENT_AT = 1_800_000_000.0


def answer(
    body: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": content_type, **(headers or {})}
    return HttpResponse(
        status=status, headers=all_headers, body=raw, url="https://idp.test/token", sent_at=SENT_AT
    )


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def test_standard_answer() -> None:
    token = parse_token_response(
        answer({"access_token": "abc", "token_type": "Bearer", "expires_in": 3600, "scope": "a b"})
    )
    assert token.access_token == "abc"
    assert token.token_type == "Bearer"
    assert token.expires_at == SENT_AT + 3600
    assert token.scopes == ("a", "b")
    assert token.authorization == "Bearer abc"


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", " Bearer "])
def test_bearer_is_normalised_case_insensitively(token_type: str) -> None:
    token = parse_token_response(
        answer({"access_token": "abc", "token_type": token_type, "expires_in": 60})
    )
    assert token.token_type == "Bearer"


def test_other_token_types_are_kept() -> None:
    token = parse_token_response(
        answer({"access_token": "abc", "token_type": "DPoP", "expires_in": 60})
    )
    assert token.token_type == "DPoP"


@pytest.mark.parametrize("expires_in", ["3600", 3600.5, "3600.5", " 120 "])
def test_expires_in_as_numeric_string_or_float(expires_in: Any) -> None:
    token = parse_token_response(answer({"access_token": "abc", "expires_in": expires_in}))
    assert token.expires_at == pytest.approx(SENT_AT + float(expires_in))


def test_expires_on_measured_against_server_date() -> None:
    # The host clock is 10 minutes ahead of the server; the lifetime must still be 1 hour.
    server_now = SENT_AT - 600
    date = format_datetime(datetime.fromtimestamp(server_now, UTC), usegmt=True)
    token = parse_token_response(
        answer(
            {"access_token": "abc", "expires_on": str(int(server_now + 3600))},
            headers={"date": date},
        )
    )
    assert token.expires_at == pytest.approx(SENT_AT + 3600)


def test_expires_on_without_date_uses_sent_time() -> None:
    token = parse_token_response(answer({"access_token": "abc", "expires_on": SENT_AT + 900}))
    assert token.expires_at == pytest.approx(SENT_AT + 900)


def test_jwt_exp_when_no_expiry_field() -> None:
    access = jwt({"exp": SENT_AT + 1200, "sub": "x"})
    token = parse_token_response(answer({"access_token": access}))
    assert token.expires_at == pytest.approx(SENT_AT + 1200)


def test_default_ttl_when_nothing_says(caplog: pytest.LogCaptureFixture) -> None:
    token = parse_token_response(answer({"access_token": "opaque"}), default_ttl=777)
    assert token.expires_at == SENT_AT + 777
    assert any("default_ttl" in r.getMessage() for r in caplog.records)


def test_null_expires_in_falls_back() -> None:
    token = parse_token_response(answer({"access_token": "x", "expires_in": None}), default_ttl=50)
    assert token.expires_at == SENT_AT + 50


@pytest.mark.parametrize("expires_in", [0, -5, "-1"])
def test_expired_on_arrival_is_refused(expires_in: Any) -> None:
    with pytest.raises(TokenResponseError, match="expired on arrival"):
        parse_token_response(answer({"access_token": "x", "expires_in": expires_in}))


@pytest.mark.parametrize("expires_in", ["not_supported", True, [1], {"a": 1}])
def test_non_numeric_expires_in_is_refused(expires_in: Any) -> None:
    with pytest.raises(TokenResponseError, match="expires_in"):
        parse_token_response(answer({"access_token": "x", "expires_in": expires_in}))


def test_huge_lifetime_is_capped() -> None:
    token = parse_token_response(answer({"access_token": "x", "expires_in": 10**12}))
    assert token.expires_at == SENT_AT + MAX_LIFETIME


def test_form_encoded_answer() -> None:
    body = b"access_token=abc&token_type=bearer&expires_in=60&scope=a+b"
    token = parse_token_response(answer(body, content_type="application/x-www-form-urlencoded"))
    assert (token.access_token, token.token_type, token.scopes) == ("abc", "Bearer", ("a", "b"))


def test_scopes_default_to_requested() -> None:
    token = parse_token_response(
        answer({"access_token": "x", "expires_in": 5}), requested_scopes=["r"]
    )
    assert token.scopes == ("r",)


def test_extra_fields_kept_but_refresh_and_id_tokens_dropped() -> None:
    token = parse_token_response(
        answer(
            {
                "access_token": "x",
                "expires_in": 5,
                "instance_url": "https://i",
                "refresh_token": "r",
                "id_token": "i",
            }
        )
    )
    assert dict(token.extra) == {"instance_url": "https://i"}
    with pytest.raises(TypeError):
        token.extra["x"] = 1  # type: ignore[index]


def test_error_answer_raises_typed_error_with_rfc_fields() -> None:
    with pytest.raises(InvalidClientError) as caught:
        parse_token_response(
            answer(
                {
                    "error": "invalid_client",
                    "error_description": "bad secret",
                    "error_uri": "https://doc",
                    "trace_id": "t1",
                    "error_codes": [7000215],
                },
                status=401,
            )
        )
    error = caught.value
    assert (error.status, error.error, error.error_description, error.error_uri) == (
        401,
        "invalid_client",
        "bad secret",
        "https://doc",
    )
    assert error.details == {"trace_id": "t1", "error_codes": "7000215"}
    assert "invalid_client" in str(error) and "bad secret" in str(error)


def test_200_with_error_is_an_error() -> None:
    with pytest.raises(InvalidScopeError):
        parse_token_response(answer({"error": "invalid_scope"}))


def test_unknown_error_code_is_a_token_request_error() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse_token_response(answer({"error": "access_denied"}, status=403))
    assert type(caught.value) is TokenRequestError


def test_4xx_without_error_body() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse_token_response(answer(b"nope", status=403, content_type="text/plain"))
    assert caught.value.status == 403


def test_html_page_is_quoted_with_content_type() -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response(
            answer(b"<html><body>Maintenance</body></html>", content_type="text/html")
        )
    message = str(caught.value)
    assert "text/html" in message and "Maintenance" in message
    assert caught.value.content_type == "text/html"


def test_quote_is_capped_at_200_characters() -> None:
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response(answer(b"<p>" + b"word " * 1000, content_type="text/html"))
    quoted = str(caught.value).split(": ", 1)[1]
    assert "word word" in quoted
    assert 150 < len(quoted) <= 202  # 200 characters and the quotes around them


def test_truncated_json_never_quotes_the_token() -> None:
    body = b'{"access_token": "SUPERSECRETTOKENVALUE", "expires_in": 36'
    with pytest.raises(TokenResponseError) as caught:
        parse_token_response(answer(body))
    assert "SUPERSECRETTOKENVALUE" not in str(caught.value)
    assert "not valid JSON" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"token_type": "Bearer"}', "no access_token"),
        (b'{"access_token": 42}', "no access_token"),
        (b'{"access_token": ""}', "no access_token"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_answers(body: bytes, reason: str) -> None:
    with pytest.raises(TokenResponseError, match=reason):
        parse_token_response(answer(body))


def test_redirect_is_refused_and_names_the_host() -> None:
    with pytest.raises(TokenResponseError, match="evil.example") as caught:
        parse_token_response(
            answer(b"", status=302, headers={"location": "https://evil.example/steal"})
        )
    assert "never followed" in str(caught.value)


def test_custom_response_fields() -> None:
    fields = ResponseFields(
        token="BearerToken", expires_in="ttl", expires_in_unit="ms", scope_separator=","
    )
    token = parse_token_response(
        answer({"BearerToken": "x", "ttl": 60000, "scope": "a,b"}), fields=fields
    )
    assert (token.access_token, token.expires_at, token.scopes) == ("x", SENT_AT + 60, ("a", "b"))
    assert "ttl" not in token.extra and "BearerToken" not in token.extra


def test_redact_text_masks_tokens_secrets_and_jwts() -> None:
    text = redact_text(
        '{"access_token": "AAA", "client_secret":"BBB", "note": "ok"} '
        "refresh_token=CCC&x=1 eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln DDD",
        secrets=["DDD"],
    )
    for value in ("AAA", "BBB", "CCC", "DDD", "eyJ"):
        assert value not in text
    assert '"note": "ok"' in text and "x=1" in text


def test_decode_jws_parts_reads_header_and_claims() -> None:
    from tokenrack.oauth.response import decode_jws_parts

    assert decode_jws_parts(jwt({"sub": "svc", "exp": 1})) == (
        {"alg": "none"},
        {"sub": "svc", "exp": 1},
    )


@pytest.mark.parametrize(
    "token",
    [
        "opaque",
        "a.b",
        "a.b.c.d",
        "!!.e30.sig",
        "e30.bm90IGpzb24.sig",
        "WzFd.e30.sig",
        "e30.WzFd.sig",
    ],
)
def test_decode_jws_parts_refuses_what_is_not_a_jws(token: str) -> None:
    from tokenrack.oauth.response import decode_jws_parts

    assert decode_jws_parts(token) is None


def test_jwt_claims_needs_only_the_claims_segment() -> None:
    from tokenrack.oauth.response import jwt_claims

    assert jwt_claims("not-a-header." + jwt({"exp": 5}).split(".")[1] + ".sig") == {"exp": 5}
    assert jwt_claims("e30.WzFd.sig") is None and jwt_claims("opaque") is None


def test_b64url_decode_takes_unpadded_segments() -> None:
    from tokenrack.oauth.response import b64url_decode

    assert b64url_decode("e30") == b"{}" and b64url_decode("") == b""
    with pytest.raises(ValueError):
        b64url_decode("é")


def refusal(**fields: Any) -> TokenRequestError:
    with pytest.raises(TokenRequestError) as caught:
        parse_token_response(answer({"error": "invalid_request", **fields}, status=400))
    return caught.value


def test_server_error_text_is_cut_before_redaction() -> None:
    """F8: each server text is cut (marked) before any pattern runs; details are bounded."""
    from tokenrack.secret.scrub import CUT_MARK

    error = refusal(
        error_description="d" * 50_000,
        error_uri="https://doc.example/" + "u" * 50_000,
        **{f"field{i}": "v" * 5000 for i in range(100)},
    )
    assert error.error_description == "d" * 2048 + CUT_MARK
    assert (error.error_uri or "").endswith(CUT_MARK) and len(error.error_uri or "") < 2100
    assert len(error.details) == 32
    assert all(len(value) <= 2048 + len(CUT_MARK) for value in error.details.values())
    assert len(str(error)) < 80_000


def test_error_text_masks_opaque_tokens_but_keeps_references() -> None:
    """F7: opaque-token-shaped runs in error_description, error_uri and details are masked;
    trace ids (UUIDs), vendor error codes, snake_case names and URL addresses are kept."""
    trace = "8f4e1c2a-1b2c-4d5e-8f90-0123456789ab"
    error = refusal(
        error_description=f"AADSTS7000215: invalid_client. Trace ID: {trace} leaked "
        "Zk9vYmFyYmF6cXV4MTIz and more",
        error_uri="https://docs.example/help?code=700027&t=Zk9vYmFyYmF6cXV4MTIz#frag",
        trace_id=trace,
        session="s3ss10n-abcdef123456",
    )
    description = error.error_description or ""
    assert "AADSTS7000215" in description and trace in description
    assert "invalid_client" in description and "Zk9vYmFyYmF6cXV4MTIz" not in description
    assert error.error_uri == "https://docs.example/help?code=700027&t=***#***"
    assert error.details == {"trace_id": trace, "session": "***"}


def test_redaction_is_linear_on_pathological_text() -> None:
    """F8: the patterns cannot backtrack; redact_text on 200 kB of each worst case returns
    (the old patterns would take minutes) with the same masking as before."""
    for text in ("a" * 200_000, "token" * 40_000, '"' + "token" * 40_000, "a1" * 100_000):
        assert len(redact_text(text, opaque=True)) <= len(text)
    assert redact_text('{"my_token":"x"} api_key=y z eyJhbGciOi.eyJzdWIiOi.c2ln') == (
        '{"my_token":"***"} api_key=*** z ***'
    )
    assert redact_text("id=abc notsecret=1") == "id=abc notsecret=***"


def test_credential_like_fields_are_dropped_from_extra() -> None:
    """F20: unknown answer fields named like credentials are not kept in token.extra."""
    token = parse_token_response(
        answer(
            {
                "access_token": "x",
                "expires_in": 60,
                "instance_url": "https://i",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "session_key": "a",
                "Signature": "b",
                "clientSecret": "c",
                "api_key": "d",
                "id_token_hint": "e",
                "db_password": "f",
            }
        )
    )
    assert dict(token.extra) == {
        "instance_url": "https://i",
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
