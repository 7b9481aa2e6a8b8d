"""The JSON envelope of a shared-cache record, read with the standard library alone.

:mod:`tokenrack.cache.record` builds and opens records (encryption included); this module
holds what reading a plain record needs, so that the CLI's warm path can serve a cached
token without importing more than json.
"""

from __future__ import annotations

import json

__all__ = [
    "FORMAT",
    "RecordError",
    "checked_envelope",
    "parse_record",
    "plain_token",
    "token_fields",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1
"""The record format this version writes and reads."""


class RecordError(ValueError):
    """A stored record cannot be used (its message never holds the record's content)."""


def parse_record(data: bytes) -> dict[str, Any]:
    """The record as a JSON object of the current format.

    Raises:
        RecordError: Not JSON, not an object, or another format.
    """
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        # json's message gives a position, never the text around it.
        raise RecordError(f"not a record ({type(error).__name__}: {error})") from None
    if not isinstance(record, dict):
        raise RecordError("not a record (not a JSON object)")
    found = record.get("format")
    if found != FORMAT:
        raise RecordError(f"record format {found!r}; this tokenrack reads format {FORMAT}")
    return record


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def token_fields(token_json: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The token's members, checked, with the record's obtained_at and lifetime.

    The members are access_token, token_type, expires_at, scopes and extra.

    Raises:
        RecordError: A member is missing or has the wrong type.
    """
    try:
        scopes = token_json["scopes"]
        extra = token_json.get("extra", {})
        if not isinstance(scopes, list) or not isinstance(extra, dict):
            raise TypeError
        return {
            "access_token": _text(token_json["access_token"]),
            "token_type": _text(token_json["token_type"]),
            "expires_at": float(token_json["expires_at"]),
            "scopes": tuple(str(s) for s in scopes),
            "extra": dict(extra),
            "obtained_at": float(record["obtained_at"]),
            "lifetime": float(record["lifetime"]),
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RecordError("a record member is missing or has the wrong type") from None


def checked_envelope(record: dict[str, Any], key: str, *, encrypted_ok: bool) -> None:
    """Refuse a record stored under another key, or sealed when the reader cannot open it.

    Args:
        record: The parsed record.
        key: The cache key it was read under.
        encrypted_ok: Whether the reader holds an encryption key; then a record that is
            not sealed is refused too (nobody may plant a plain token in an encrypted cache).

    Raises:
        RecordError: Another key's record, or sealed-ness that does not fit the reader.
    """
    if record.get("key") != key:
        raise RecordError("the record was stored under another cache key")
    sealed = "sealed" in record
    if sealed and not encrypted_ok:
        raise RecordError("the record is encrypted and this profile has no encryption_key")
    if encrypted_ok and not sealed:
        raise RecordError("the record is not encrypted but this profile has an encryption_key")


def plain_token(data: bytes, *, key: str) -> dict[str, Any]:
    """The token fields of an unencrypted record stored under cache key ``key``.

    Raises:
        RecordError: Unusable, another key's, or encrypted (which needs the full path).
    """
    record = parse_record(data)
    checked_envelope(record, key, encrypted_ok=False)
    return token_fields(record.get("token"), record)
