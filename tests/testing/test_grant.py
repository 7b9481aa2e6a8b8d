"""The emulator's grant checks, one at a time and in the order a server makes them."""

from __future__ import annotations

from tokenrack.testing.grant import audience_refusal, grant_type_refusal, refusal, scope_refusal
from tokenrack.testing.values import EmulatorClient

OPEN = EmulatorClient("c", "s")
STRICT = EmulatorClient(
    "c", "s", scopes=frozenset({"read"}), audiences=frozenset({"api"}), require_audience=True
)


def described(answer: object) -> tuple[int, str, str] | None:
    if answer is None:
        return None
    body = answer.body  # type: ignore[attr-defined]
    return answer.status, body["error"], body["error_description"]  # type: ignore[attr-defined]


def test_grant_type() -> None:
    assert described(grant_type_refusal(OPEN, [])) == (
        400,
        "invalid_request",
        "grant_type is missing",
    )
    assert described(grant_type_refusal(OPEN, [("grant_type", "password")])) == (
        400,
        "unsupported_grant_type",
        "grant_type password is not supported",
    )
    assert grant_type_refusal(OPEN, [("grant_type", "client_credentials")]) is None


def test_scopes() -> None:
    assert scope_refusal(OPEN, ["anything"]) is None
    assert scope_refusal(STRICT, ["read"]) is None and scope_refusal(STRICT, []) is None
    assert described(scope_refusal(STRICT, ["write", "read", "admin"])) == (
        400,
        "invalid_scope",
        "scope not allowed: admin write",
    )


def test_audience() -> None:
    assert audience_refusal(OPEN, None) is None and audience_refusal(OPEN, "x") is None
    assert described(audience_refusal(STRICT, None)) == (
        400,
        "invalid_request",
        "audience is required",
    )
    assert described(audience_refusal(STRICT, "other")) == (
        403,
        "access_denied",
        "audience other is not allowed",
    )
    assert audience_refusal(STRICT, "api") is None


def test_refusal_checks_grant_type_then_scope_then_audience() -> None:
    everything_wrong = [("grant_type", "password"), ("scope", "write"), ("audience", "x")]
    assert described(refusal(STRICT, everything_wrong))[1] == "unsupported_grant_type"  # type: ignore[index]
    assert (
        described(refusal(STRICT, [("grant_type", "client_credentials"), ("scope", "write")]))[1]
        == "invalid_scope"
    )  # type: ignore[index]
    assert (
        described(refusal(STRICT, [("grant_type", "client_credentials")]))[1] == "invalid_request"
    )  # type: ignore[index]
    ok = [("grant_type", "client_credentials"), ("scope", "read"), ("audience", "api")]
    assert refusal(STRICT, ok) is None
