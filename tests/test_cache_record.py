"""Records: the versioned format, validation and bounds on read, and AES-GCM over all of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK
from tokenrack.cache.envelope import MAX_LIFETIME, checked_envelope, plain_token
from tokenrack.cache.record import (
    FORMAT,
    MAX_RECORD_BYTES,
    RecordCipher,
    RecordError,
    StoredToken,
    decode_record,
    encode_record,
    record_info,
)
from tokenrack.secret.value import Secret
from tokenrack.token import Token

TOKEN = Token(
    access_token=f"{TOKEN_MARK}-abc",
    token_type="Bearer",
    expires_at=1_800_003_600.0,
    scopes=("read", "write"),
    extra={"instance_url": "https://x.example"},
)
STORED = StoredToken(token=TOKEN, obtained_at=1_800_000_000.0, lifetime=3600.0)
NOW = 1_800_000_001.0


def test_round_trip_in_the_clear() -> None:
    data = encode_record(STORED, key="k1", profile="billing", now=1_800_000_001.0)
    assert decode_record(data, key="k1", now=NOW) == STORED
    info = record_info(data)
    assert (info.key, info.profile, info.format, info.encrypted) == ("k1", "billing", FORMAT, False)
    assert info.expires_at == STORED.expires_at


def test_a_record_under_another_key_is_refused() -> None:
    data = encode_record(STORED, key="k1", profile="p", now=0)
    with pytest.raises(RecordError, match="another cache key"):
        decode_record(data, key="k2", now=NOW)


def test_sealed_round_trip_hides_the_token_and_keeps_metadata_readable() -> None:
    cipher = RecordCipher(Secret("a-random-key-of-enough-length-0123456789"))
    data = encode_record(STORED, key="k1", profile="p", now=0, cipher=cipher)
    assert TOKEN_MARK.encode() not in data
    assert decode_record(data, key="k1", now=NOW, cipher=cipher) == STORED
    assert record_info(data).encrypted


def test_sealed_record_moved_to_another_key_does_not_decrypt() -> None:
    cipher = RecordCipher(Secret("a-random-key-of-enough-length-0123456789"))
    record = json.loads(encode_record(STORED, key="k1", profile="p", now=0, cipher=cipher))
    record["key"] = "k2"  # even with the clear-text key rewritten, the AAD is k1
    with pytest.raises(RecordError, match="does not decrypt"):
        decode_record(json.dumps(record).encode(), key="k2", now=NOW, cipher=cipher)


def test_another_encryption_key_does_not_decrypt() -> None:
    data = encode_record(
        STORED, key="k1", profile="p", now=0, cipher=RecordCipher(Secret("one" * 12))
    )
    with pytest.raises(RecordError, match="does not decrypt"):
        decode_record(data, key="k1", now=NOW, cipher=RecordCipher(Secret("two" * 12)))


def test_sealed_needs_a_cipher_and_a_cipher_needs_sealed() -> None:
    cipher = RecordCipher(Secret("k" * 40))
    sealed = encode_record(STORED, key="k", profile="p", now=0, cipher=cipher)
    clear = encode_record(STORED, key="k", profile="p", now=0)
    with pytest.raises(RecordError, match="no encryption_key"):
        decode_record(sealed, key="k", now=NOW)
    with pytest.raises(RecordError, match="not encrypted"):
        decode_record(clear, key="k", now=NOW, cipher=cipher)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["sealed"].update(nonce="!!!"),
        lambda r: r["sealed"].update(alg="none"),
        lambda r: r.update(sealed="text"),
        lambda r: r["sealed"].update(data=r["sealed"]["data"][:-8] + "AAAAAAA="),
    ],
)
def test_tampered_sealed_records_are_refused(mutate: object) -> None:
    cipher = RecordCipher(Secret("k" * 40))
    record = json.loads(encode_record(STORED, key="k", profile="p", now=0, cipher=cipher))
    mutate(record)  # type: ignore[operator]
    with pytest.raises(RecordError):
        decode_record(json.dumps(record).encode(), key="k", now=NOW, cipher=cipher)


def test_errors_and_reprs_never_show_the_token() -> None:
    cipher = RecordCipher(Secret("CANARYSECRET-key"))
    assert "CANARYSECRET" not in repr(cipher)
    data = encode_record(STORED, key="k", profile="p", now=0)
    for bad in (data[:-3], data.replace(b'"k"', b'"x"')):
        with pytest.raises(RecordError) as caught:
            decode_record(bad, key="k", now=NOW)
        assert TOKEN_MARK not in str(caught.value)


@pytest.mark.parametrize(
    ("record", "encrypted_ok", "refused"),
    [
        ({"key": "k1", "token": {}}, False, None),
        ({"key": "k1", "sealed": {}}, True, None),
        ({"key": "k2", "token": {}}, False, "another cache key"),
        ({"key": "k2", "sealed": {}}, True, "another cache key"),
        ({"token": {}}, False, "another cache key"),
        ({"key": "k1", "sealed": {}}, False, "is encrypted and this profile has no"),
        ({"key": "k1", "token": {}}, True, "is not encrypted but this profile has"),
    ],
)
def test_checked_envelope_refuses_another_key_and_the_wrong_sealing(
    record: dict[str, object], encrypted_ok: bool, refused: str | None
) -> None:
    if refused is None:
        checked_envelope(record, "k1", encrypted_ok=encrypted_ok)
    else:
        with pytest.raises(RecordError, match=refused):
            checked_envelope(record, "k1", encrypted_ok=encrypted_ok)


def test_plain_token_and_decode_record_refuse_alike() -> None:
    # The warm path's reader and the full path's share one envelope check.
    data = encode_record(STORED, key="k1", profile="billing", now=1_800_000_001.0)
    for read in (
        lambda: plain_token(data, key="k2", now=NOW),
        lambda: decode_record(data, key="k2", now=NOW),
    ):
        with pytest.raises(RecordError, match="another cache key"):
            read()
    assert plain_token(data, key="k1", now=NOW)["access_token"] == TOKEN.access_token


def _sealed(cipher: RecordCipher, stored: StoredToken = STORED) -> dict[str, Any]:
    return dict(json.loads(encode_record(stored, key="k", profile="p", now=NOW, cipher=cipher)))


@pytest.mark.parametrize(
    "member", ["obtained_at", "lifetime", "expires_at", "stored_at", "profile"]
)
def test_a_sealed_record_serves_its_sealed_times_whatever_the_outer_ones_say(member: str) -> None:
    cipher = RecordCipher(Secret("k" * 40))
    record = _sealed(cipher)
    record[member] = 9_999_999_999.0 if member != "profile" else "other"
    stored = decode_record(json.dumps(record).encode(), key="k", now=NOW, cipher=cipher)
    assert stored == STORED


def test_a_sealed_record_past_its_sealed_expiry_is_expired_whatever_its_outer_times() -> None:
    cipher = RecordCipher(Secret("k" * 40))
    record = _sealed(cipher)
    later = STORED.expires_at + 100
    record.update(obtained_at=later, lifetime=86_400.0, expires_at=later + 86_400.0)
    stored = decode_record(json.dumps(record).encode(), key="k", now=later, cipher=cipher)
    assert stored.expires_at == STORED.expires_at < later


def test_format_1_records_are_refused_as_another_format() -> None:
    record = json.loads(encode_record(STORED, key="k", profile="p", now=NOW))
    record["format"] = 1
    with pytest.raises(RecordError, match="record format 1"):
        decode_record(json.dumps(record).encode(), key="k", now=NOW)


def test_a_record_over_the_size_cap_is_refused_before_it_is_parsed() -> None:
    data = b"{" + b" " * MAX_RECORD_BYTES + b"}"
    with pytest.raises(RecordError, match="larger than"):
        decode_record(data, key="k", now=NOW)


def test_lifetimes_are_capped_at_a_day_and_at_the_records_own_expiry() -> None:
    record = json.loads(encode_record(STORED, key="k", profile="p", now=NOW))
    record["lifetime"] = 1e9
    record["token"]["expires_at"] = 1e12
    record["expires_at"] = 1e12
    stored = decode_record(json.dumps(record).encode(), key="k", now=NOW)
    assert stored.lifetime == MAX_LIFETIME == 86_400.0
    assert stored.token.expires_at == STORED.obtained_at + MAX_LIFETIME
    record["expires_at"] = STORED.obtained_at + 60
    assert decode_record(json.dumps(record).encode(), key="k", now=NOW).lifetime == 60


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(lifetime=float("nan")),
        lambda r: r.update(lifetime="3600"),
        lambda r: r.update(lifetime=True),
        lambda r: r.update(lifetime=-5),
        lambda r: r.update(obtained_at=NOW + 10_000),
        lambda r: r["token"].update(expires_at=None),
        lambda r: r["token"].update(scopes=[1]),
    ],
)
def test_ill_formed_times_and_members_are_refused(mutate: Any) -> None:
    record = json.loads(encode_record(STORED, key="k", profile="p", now=NOW))
    mutate(record)
    raw = json.dumps(record).encode()
    with pytest.raises(RecordError):
        decode_record(raw, key="k", now=NOW)


def test_the_mirrored_lifetime_cap_equals_the_response_cap() -> None:
    from tokenrack.oauth.response import MAX_LIFETIME as RESPONSE_CAP

    assert MAX_LIFETIME == RESPONSE_CAP
