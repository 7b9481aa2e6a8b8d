"""Records: the versioned format, validation on read, and AES-GCM with the key as AAD."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN_MARK
from tokenrack.cache.envelope import checked_envelope, plain_token
from tokenrack.cache.record import (
    FORMAT,
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


def test_round_trip_in_the_clear() -> None:
    data = encode_record(STORED, key="k1", profile="billing", now=1_800_000_001.0)
    assert decode_record(data, key="k1") == STORED
    info = record_info(data)
    assert (info.key, info.profile, info.format, info.encrypted) == ("k1", "billing", FORMAT, False)
    assert info.expires_at == STORED.expires_at


def test_a_record_under_another_key_is_refused() -> None:
    data = encode_record(STORED, key="k1", profile="p", now=0)
    with pytest.raises(RecordError, match="another cache key"):
        decode_record(data, key="k2")


def test_sealed_round_trip_hides_the_token_and_keeps_metadata_readable() -> None:
    cipher = RecordCipher(Secret("a-random-key-of-enough-length-0123456789"))
    data = encode_record(STORED, key="k1", profile="p", now=0, cipher=cipher)
    assert TOKEN_MARK.encode() not in data
    assert decode_record(data, key="k1", cipher=cipher) == STORED
    assert record_info(data).encrypted


def test_sealed_record_moved_to_another_key_does_not_decrypt() -> None:
    cipher = RecordCipher(Secret("a-random-key-of-enough-length-0123456789"))
    record = json.loads(encode_record(STORED, key="k1", profile="p", now=0, cipher=cipher))
    record["key"] = "k2"  # even with the clear-text key rewritten, the AAD is k1
    with pytest.raises(RecordError, match="does not decrypt"):
        decode_record(json.dumps(record).encode(), key="k2", cipher=cipher)


def test_another_encryption_key_does_not_decrypt() -> None:
    data = encode_record(
        STORED, key="k1", profile="p", now=0, cipher=RecordCipher(Secret("one" * 12))
    )
    with pytest.raises(RecordError, match="does not decrypt"):
        decode_record(data, key="k1", cipher=RecordCipher(Secret("two" * 12)))


def test_sealed_needs_a_cipher_and_a_cipher_needs_sealed() -> None:
    cipher = RecordCipher(Secret("k" * 40))
    sealed = encode_record(STORED, key="k", profile="p", now=0, cipher=cipher)
    clear = encode_record(STORED, key="k", profile="p", now=0)
    with pytest.raises(RecordError, match="no encryption_key"):
        decode_record(sealed, key="k")
    with pytest.raises(RecordError, match="not encrypted"):
        decode_record(clear, key="k", cipher=cipher)


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
        decode_record(json.dumps(record).encode(), key="k", cipher=cipher)


def test_errors_and_reprs_never_show_the_token() -> None:
    cipher = RecordCipher(Secret("CANARYSECRET-key"))
    assert "CANARYSECRET" not in repr(cipher)
    data = encode_record(STORED, key="k", profile="p", now=0)
    for bad in (data[:-3], data.replace(b'"k"', b'"x"')):
        with pytest.raises(RecordError) as caught:
            decode_record(bad, key="k")
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
    for read in (lambda: plain_token(data, key="k2"), lambda: decode_record(data, key="k2")):
        with pytest.raises(RecordError, match="another cache key"):
            read()
    assert plain_token(data, key="k1")["access_token"] == TOKEN.access_token
