"""The record a shared cache stores for one token: versioned JSON, optionally sealed.

A record (format 2) is a JSON object::

    {"format": 2, "key": "<cache key>", "profile": "billing",
     "stored_at": 1800000000.0, "obtained_at": 1799999999.5, "lifetime": 3600.0,
     "expires_at": 1800003599.5,
     "token": {"access_token": "…", "token_type": "Bearer", "expires_at": …,
               "scopes": […], "extra": {…}}}

With an ``encryption_key`` the ``token`` member is replaced by ``"sealed": {"alg":
"A256GCM", "nonce": …, "data": …}``: AES-256-GCM over the canonical JSON of everything a
reader uses (the format, the cache key, the profile, ``obtained_at``, ``lifetime``,
``expires_at`` and the whole token, ``extra`` and scopes included), with
``"tokenrack record 2:" + key`` as associated data. A reader of a sealed record uses the
sealed copy only, so a record copied under another key, re-planted with new times, or
changed in any member is refused. The outer times stay readable for ``tokenrack cache
list``, which needs no key; they hold no secret and nothing reads them to serve a token.
Times are epoch seconds (processes share no monotonic clock).

Anything unexpected (too large, bad JSON, another format, another key, a record that does not
decrypt, times out of bounds) raises :class:`RecordError`, which the shared layer treats as
a miss. Format 1 records (tokenrack before format 2) are such a miss, then replaced.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tokenrack.cache.envelope import (
    CLOCK_SKEW,
    FORMAT,
    MAX_RECORD_BYTES,
    RecordError,
    checked_envelope,
    parse_record,
    token_age,
    token_fields,
)
from tokenrack.errors import CacheError
from tokenrack.token import Token

if TYPE_CHECKING:
    from tokenrack.secret.value import Secret

__all__ = [
    "CLOCK_SKEW",
    "FORMAT",
    "MAX_RECORD_BYTES",
    "RecordCipher",
    "RecordError",
    "RecordInfo",
    "StoredToken",
    "decode_record",
    "encode_record",
    "record_info",
    "token_age",
]

_ALG = "A256GCM"
_HKDF_INFO = b"tokenrack cache record v1"


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token read from, or to be written to, a shared cache.

    Attributes:
        token: The token.
        obtained_at: Epoch seconds the request that got it was sent.
        lifetime: Its lifetime in seconds from ``obtained_at``.
        stored_at: Epoch seconds the writer stored it, when the record says so in a member
            a reader may trust (a plain record's; a sealed record's is outside the seal).
    """

    token: Token
    obtained_at: float
    lifetime: float
    stored_at: float | None = field(default=None, compare=False)

    @property
    def expires_at(self) -> float:
        """Epoch seconds it expires."""
        return self.obtained_at + self.lifetime

    def age(self, now: float) -> float:
        """Seconds since it was obtained, by this host's clock ``now`` (see :func:`token_age`).

        Raises:
            RecordError: Its times lie in this host's future beyond :data:`CLOCK_SKEW`.
        """
        return token_age(self.obtained_at, now, self.stored_at)


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """What a record says about itself, without its token (for ``cache list``).

    Attributes:
        key: The cache key it was stored under.
        profile: The profile that stored it.
        format: The record format.
        stored_at: Epoch seconds it was written.
        obtained_at: Epoch seconds its token was requested.
        lifetime: Its token's lifetime in seconds from ``obtained_at``.
        expires_at: Epoch seconds its token expires.
        encrypted: Whether the token is sealed with an encryption key.
    """

    key: str
    profile: str
    format: int
    stored_at: float
    obtained_at: float
    lifetime: float
    expires_at: float
    encrypted: bool


class RecordCipher:
    """AES-256-GCM sealing of a shared record, bound by its associated data to one use.

    The 256-bit key is derived with HKDF-SHA256 from the configured ``encryption_key``
    (use a random value of 32 bytes or more: HKDF does not stretch a weak passphrase).
    ``cryptography`` is imported here, never by ``import tokenrack``.

    Args:
        secret: The configured encryption key.

    Raises:
        CacheError: ``cryptography`` is not installed.
    """

    __slots__ = ("_aead",)

    def __init__(self, secret: Secret) -> None:
        try:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        except ImportError:
            raise CacheError(
                "cache encryption needs the cryptography package: "
                "pip install 'tokenrack[encryption]'",
                backend="encryption",
            ) from None
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret.reveal().encode()
        )
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "RecordCipher('***')"

    def seal(self, plaintext: bytes, *, aad: str) -> dict[str, str]:
        """Encrypt ``plaintext`` bound to the associated data ``aad`` (what it is for)."""
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, plaintext, aad.encode())
        return {"alg": _ALG, "nonce": _b64(nonce), "data": _b64(data)}

    def open(self, sealed: Any, *, aad: str) -> bytes:
        """Decrypt what :meth:`seal` made for the same ``aad``.

        Raises:
            RecordError: Not a sealed value, or it does not decrypt with ``aad``.
        """
        from cryptography.exceptions import InvalidTag

        if not isinstance(sealed, dict) or sealed.get("alg") != _ALG:
            raise RecordError("the sealed token has an unknown form")
        try:
            nonce = base64.b64decode(sealed["nonce"], validate=True)
            data = base64.b64decode(sealed["data"], validate=True)
            return self._aead.decrypt(nonce, data, aad.encode())
        except (KeyError, TypeError, ValueError, binascii.Error, InvalidTag):
            raise RecordError(
                "the record does not decrypt with this profile's encryption_key under this "
                "cache key (another key, a record copied from another cache key, or a "
                "record changed after it was sealed)"
            ) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _token_aad(key: str) -> str:
    return f"tokenrack record {FORMAT}:{key}"


def _canonical(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def encode_record(
    stored: StoredToken,
    *,
    key: str,
    profile: str,
    now: float,
    cipher: RecordCipher | None = None,
) -> bytes:
    """The record for ``stored`` under cache key ``key``.

    Args:
        stored: The token and when it was obtained.
        key: The cache key.
        profile: The profile storing it (metadata for ``cache list``).
        now: Epoch seconds now.
        cipher: Seals the token when the profile has an ``encryption_key``.
    """
    token = stored.token
    token_json = {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "scopes": list(token.scopes),
        "extra": dict(token.extra),
    }
    times = {
        "obtained_at": stored.obtained_at,
        "lifetime": stored.lifetime,
        "expires_at": stored.expires_at,
    }
    record: dict[str, Any] = {
        "format": FORMAT,
        "key": key,
        "profile": profile,
        "stored_at": now,
        **times,
    }
    if cipher is None:
        record["token"] = token_json
    else:
        inner = {"format": FORMAT, "key": key, "profile": profile, **times, "token": token_json}
        record["sealed"] = cipher.seal(_canonical(inner), aad=_token_aad(key))
    return json.dumps(record, separators=(",", ":")).encode()


def record_info(data: bytes) -> RecordInfo:
    """A record's metadata, readable without its encryption key.

    Raises:
        RecordError: Not a record of the current format.
    """
    record = parse_record(data)
    try:
        return RecordInfo(
            key=str(record["key"]),
            profile=str(record.get("profile", "")),
            format=int(record["format"]),
            stored_at=float(record["stored_at"]),
            obtained_at=float(record["obtained_at"]),
            lifetime=float(record["lifetime"]),
            expires_at=float(record["expires_at"]),
            encrypted="sealed" in record,
        )
    except (KeyError, TypeError, ValueError):
        raise RecordError("a record member is missing or has the wrong type") from None


def decode_record(
    data: bytes, *, key: str, now: float, cipher: RecordCipher | None = None
) -> StoredToken:
    """The token in a record read under cache key ``key``, bounded.

    Args:
        data: The record (refused unread beyond :data:`MAX_RECORD_BYTES`).
        key: The cache key it was read under (a record for another key is refused).
        now: Epoch seconds now.
        cipher: The profile's cipher, when it has an ``encryption_key``; a sealed record
            needs one, and with one a plaintext record is refused (nobody may plant an
            unencrypted token in an encrypted cache). A sealed record's own copy of the
            times and the token is used, never the outer members.

    Raises:
        RecordError: The record is unusable; the message says why, never what it holds.
    """
    record = parse_record(data)
    checked_envelope(record, key, encrypted_ok=cipher is not None)
    if cipher is None:
        fields = token_fields(record.get("token"), record, now=now)
    else:
        try:
            inner = json.loads(cipher.open(record["sealed"], aad=_token_aad(key)))
        except ValueError as error:
            raise RecordError(str(error)) from None
        if not isinstance(inner, dict) or inner.get("format") != FORMAT or inner.get("key") != key:
            raise RecordError("the sealed record is not a sealed record for this cache key")
        fields = token_fields(inner.get("token"), inner, now=now)
    token = Token(
        access_token=fields["access_token"],
        token_type=fields["token_type"],
        expires_at=fields["expires_at"],
        scopes=fields["scopes"],
        extra=MappingProxyType(fields["extra"]),
    )
    return StoredToken(
        token=token,
        obtained_at=fields["obtained_at"],
        lifetime=fields["lifetime"],
        stored_at=fields["stored_at"],
    )
