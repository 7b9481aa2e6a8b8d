"""The JSON envelope of a shared-cache record, read with the standard library alone.

:mod:`tokenrack.cache.record` builds and opens records (encryption included); this module
holds what reading a plain record needs, so that the CLI's warm path can serve a cached
token without importing more than json. It also holds the bounds every record read from a
cache must meet, sealed or not: at most :data:`MAX_RECORD_BYTES` before it is decoded,
finite times, a positive lifetime capped at :data:`MAX_LIFETIME` and at the record's own
expiry, no time in this host's future beyond :data:`CLOCK_SKEW`, and members of the right
types; and :func:`token_age`, the one rule that places a record's token on this host's clock.
"""

from __future__ import annotations

import json
import math
import time

__all__ = [
    "CLOCK_SKEW",
    "FORMAT",
    "MAX_LIFETIME",
    "MAX_RECORD_BYTES",
    "RecordError",
    "checked_envelope",
    "parse_record",
    "plain_token",
    "token_age",
    "token_fields",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = 2
"""The record format this version writes and reads (format 1 records are a miss)."""

MAX_RECORD_BYTES = 64 * 1024
"""The largest record a reader decodes; a larger one is refused before any parsing."""

MAX_LIFETIME = 86_400.0
"""The longest lifetime a record may give its token (the same cap as a server's answer,
``tokenrack.oauth.response.MAX_LIFETIME``, repeated here to keep this module stdlib-only)."""

CLOCK_SKEW = 5.0
"""Seconds a record's ``obtained_at`` or ``stored_at`` may lie in this host's future.

Processes share no monotonic clock, so a record's times are wall-clock epochs. A time
further in this host's future means a writer whose clock is ahead, or this host's clock
stepped back since: the record's age cannot be known, and it is refused (a miss)."""


class RecordError(ValueError):
    """A stored record cannot be used (its message never holds the record's content)."""


def parse_record(data: bytes) -> dict[str, Any]:
    """The record as a JSON object of the current format.

    Raises:
        RecordError: Too large, not JSON, not an object, or another format.
    """
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"the record is larger than {MAX_RECORD_BYTES} bytes; not decoded")
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


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def token_age(obtained_at: float, now: float, stored_at: float | None = None) -> float:
    """Seconds since a record's token was obtained, by this host's clock, never flattering.

    A negative age (``obtained_at`` after ``now``) is not taken as zero: beyond
    :data:`CLOCK_SKEW` the record is refused; within it the two clocks disagree by at least
    that much, in an unknown direction, so the token is taken to be that old. The writer's
    own ``stored_at - obtained_at`` (measured on one clock) is a floor.

    Args:
        obtained_at: Epoch seconds the token was requested, by the writer's clock.
        now: Epoch seconds now, by this host's clock.
        stored_at: Epoch seconds the writer stored the record, when known and trusted.

    Raises:
        RecordError: ``obtained_at`` or ``stored_at`` lies in this host's future by more
            than :data:`CLOCK_SKEW`.
    """
    if obtained_at > now + CLOCK_SKEW or (stored_at is not None and stored_at > now + CLOCK_SKEW):
        raise RecordError(
            "the record's times lie in this host's future (a writer's clock ahead, or this "
            "host's clock stepped back); its age cannot be known"
        )
    age = abs(now - obtained_at)
    if stored_at is not None:
        age = max(age, stored_at - obtained_at)
    return age


def token_fields(token_json: Any, times: dict[str, Any], *, now: float) -> dict[str, Any]:
    """The token's members and times, checked and bounded.

    The members are access_token, token_type, expires_at, scopes and extra; ``times`` holds
    obtained_at, lifetime and expires_at (the sealed copy for a sealed record), and for a
    plain record ``stored_at``, returned as ``stored_at`` (None when absent). The lifetime
    returned is capped at :data:`MAX_LIFETIME`, at the record's ``expires_at`` and at the
    token's, and the token's ``expires_at`` at the end of that lifetime.

    Args:
        token_json: The token object.
        times: The object holding the times.
        now: Epoch seconds now (a record obtained or stored in this host's future beyond
            :data:`CLOCK_SKEW` is refused, see :func:`token_age`).

    Raises:
        RecordError: A member is missing, has the wrong type, is not a finite number, or
            the times make no sense (no lifetime, obtained in the future).
    """
    try:
        scopes = token_json["scopes"]
        extra = token_json.get("extra", {})
        if not isinstance(scopes, list) or not isinstance(extra, dict):
            raise TypeError
        obtained_at = _number(times["obtained_at"])
        lifetime = _number(times["lifetime"])
        record_expiry = _number(times["expires_at"])
        token_expiry = _number(token_json["expires_at"])
        stored_at = _number(times["stored_at"]) if "stored_at" in times else None
        fields: dict[str, Any] = {
            "access_token": _text(token_json["access_token"]),
            "token_type": _text(token_json["token_type"]),
            "scopes": tuple(_text(s) for s in scopes),
            "extra": dict(extra),
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RecordError("a record member is missing or has the wrong type") from None
    token_age(obtained_at, now, stored_at)
    lifetime = min(lifetime, MAX_LIFETIME, record_expiry - obtained_at, token_expiry - obtained_at)
    if lifetime <= 0:
        raise RecordError("the record gives its token no lifetime")
    fields["obtained_at"] = obtained_at
    fields["stored_at"] = stored_at
    fields["lifetime"] = lifetime
    fields["expires_at"] = obtained_at + lifetime
    return fields


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


def plain_token(data: bytes, *, key: str, now: float | None = None) -> dict[str, Any]:
    """The token fields of an unencrypted record stored under cache key ``key``.

    Args:
        data: The record.
        key: The cache key it was read under.
        now: Epoch seconds now (default: the system clock).

    Raises:
        RecordError: Unusable, another key's, or encrypted (which needs the full path).
    """
    record = parse_record(data)
    checked_envelope(record, key, encrypted_ok=False)
    return token_fields(record.get("token"), record, now=time.time() if now is None else now)
