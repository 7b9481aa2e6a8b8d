"""The emulator's independent assertion verifier refuses what a strict server refuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.keys import private_pem, public_pem
from tokenrack.auth.signing import client_assertion, hmac_key, load_private_key, sign_jwt
from tokenrack.testing.assertions import (
    AssertionError_,
    load_public_key,
    verify_assertion,
    verify_grant_assertion,
)

AUD = "https://idp.test/token"
KEY = hmac_key("a-shared-secret-long-enough-for-hs256!", "HS256")


def check(assertion: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "key": KEY.key,
        "client_id": "svc",
        "audiences": {AUD},
        "algorithms": {"HS256"},
        **overrides,
    }
    return verify_assertion(assertion, **options)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "svc",
        "sub": "svc",
        "aud": AUD,
        "jti": "j1",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        **changes,
    }


def test_a_good_assertion_passes() -> None:
    assert check(client_assertion(client_id="svc", audience=AUD, key=KEY)).claims["iss"] == "svc"


# Times are offsets from when the test runs, not from collection: a whole suite can take
# longer than the 600 s these offsets leave, which once made "in the future" stale.
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": -120}, "expired"),
        ({"exp": 3600}, "too long"),
        ({"nbf": 600}, "nbf is in the future"),
        ({"iat": 600}, "iat is in the future"),
        ({"jti": ""}, "jti is missing"),
        ({"aud": "https://elsewhere"}, "aud"),
        ({"sub": "someone-else"}, "iss and sub"),
    ],
)
def test_bad_claims_are_refused(changes: dict[str, Any], reason: str) -> None:
    now = int(time.time())
    timed = {k: now + v if k in {"exp", "nbf", "iat"} else v for k, v in changes.items()}
    with pytest.raises(AssertionError_, match=reason):
        check(sign_jwt(claims(**timed), KEY))


def test_replay_and_wrong_algorithm() -> None:
    seen: set[str] = set()
    assertion = sign_jwt(claims(), KEY)
    check(assertion, seen_jti=seen)
    with pytest.raises(AssertionError_, match="replay"):
        check(assertion, seen_jti=seen)
    with pytest.raises(AssertionError_, match="not accepted"):
        check(assertion, algorithms={"RS256"})


def test_unsigned_tokens_are_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = sign_jwt(claims(), KEY).split(".")[1]
    with pytest.raises(AssertionError_, match="alg 'none' is not accepted"):
        check(f"{header}.{body}.", algorithms={"HS256", "RS256"})


def test_asymmetric_signature_checked_with_the_public_key() -> None:
    key = load_private_key(private_pem("rsa"), algorithm="PS256")
    assertion = client_assertion(client_id="svc", audience=AUD, key=key)
    assert verify_assertion(
        assertion,
        key=load_public_key(public_pem("rsa")),
        client_id="svc",
        audiences={AUD},
        algorithms={"PS256"},
    )
    tampered = assertion[:-6] + ("AAAAAA" if not assertion.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(AssertionError_, match="signature"):
        verify_assertion(
            tampered,
            key=load_public_key(public_pem("rsa")),
            client_id="svc",
            audiences={AUD},
            algorithms={"PS256"},
        )


# -- assertions as authorization grants (RFC 7523 §2.1), as Google checks them ---------------

RSA = load_private_key(private_pem("rsa"), algorithm="RS256")
SA = "svc@project.iam.gserviceaccount.com"


def grant(**changes: Any) -> str:
    now = int(time.time())
    body = {"iss": SA, "scope": "s", "aud": AUD, "iat": now, "exp": now + 3600, **changes}
    return sign_jwt({k: v for k, v in body.items() if v is not None}, RSA)


def check_grant(assertion: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "key": load_public_key(public_pem("rsa")),
        "issuer": SA,
        "audiences": {AUD},
        "algorithms": {"RS256"},
        **overrides,
    }
    return verify_grant_assertion(assertion, **options)


def test_a_good_grant_assertion_passes_without_jti_and_with_a_delegated_sub() -> None:
    verified = check_grant(grant(sub="admin@acme.example"))
    assert verified.claims["sub"] == "admin@acme.example" and "jti" not in verified.claims


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        (lambda now: {"iss": "other@project.iam.gserviceaccount.com"}, "claims", "iss"),
        (lambda now: {"aud": "https://elsewhere"}, "audience", "aud"),
        (lambda now: {"exp": now - 120}, "lifetime", "expired"),
        (lambda now: {"exp": None}, "lifetime", "no exp"),
        (lambda now: {"iat": None}, "lifetime", "iat is missing"),
        (lambda now: {"iat": now + 600, "exp": now + 900}, "lifetime", "future"),
        (lambda now: {"iat": now, "exp": now + 3601}, "lifetime", "at most 3600s"),
    ],
)
def test_bad_grant_claims_are_refused_with_their_reason(
    changes: Callable[[int], dict[str, Any]], reason: str, words: str
) -> None:
    with pytest.raises(AssertionError_, match=words) as caught:
        check_grant(grant(**changes(int(time.time()))))
    assert caught.value.reason == reason


def test_grant_signed_by_another_key_or_alg_is_refused() -> None:
    other = load_private_key(private_pem("rsa-other"), algorithm="RS256")
    now = int(time.time())
    forged = sign_jwt({"iss": SA, "aud": AUD, "iat": now, "exp": now + 60}, other)
    with pytest.raises(AssertionError_) as caught:
        check_grant(forged)
    assert caught.value.reason == "signature"
    with pytest.raises(AssertionError_) as caught:
        check_grant(grant(), algorithms={"PS256"})
    assert caught.value.reason == "alg"
