"""Credential fingerprints: which credential a cached token belongs to, without revealing it.

A token is served only to a holder of the credential that obtained it, so every cache key
carries a fingerprint of the profile's credential (key part ``credential``): the in-process
slot, the file cache's file name, the Redis key, a sealed record's AAD and the refusal
cooldown all follow from it. Two profiles with the same credential share one token; a
wrong, empty or absent secret has a key of its own (and its own ``invalid_client``).

The material is every secret the profile holds, as resolved (client secret, private key,
client certificate and key, secret form parameters, a provider's own key), or the fixed
marker ``public`` for a profile with none. The digest is keyed by where the key can be
seen, so that a key name others can list is never a guessing oracle for a weak secret:

- a shared cache with an ``encryption_key``: HMAC-SHA256 under a key derived from it
  (HKDF, info ``tokenrack/credential-fingerprint/v1``), so readers without the fleet key
  learn nothing and fleets with different keys never collide;
- the file cache without one: HMAC under a random per-user key kept (0600) in the cache
  directory;
- any other shared cache without one (plaintext Redis): scrypt over the material, salted
  with the client id and the token URL or issuer, computed once per process;
- the in-process ``memory`` cache: HMAC under a random per-process key.

Standard library only (HKDF is a few lines of ``hmac``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Mapping

from tokenrack.cache.paths import default_cache_directory
from tokenrack.errors import CacheError
from tokenrack.secret.value import Secret
from tokenrack.util.safe_file import private_key

__all__ = [
    "CREDENTIAL_PART",
    "KEY_FILE",
    "PUBLIC",
    "Fingerprint",
    "credential_material",
    "fleet_fingerprint",
    "process_fingerprint",
    "scrypt_fingerprint",
    "user_fingerprint",
]

CREDENTIAL_PART = "credential"
"""The cache key part that holds the credential fingerprint."""

PUBLIC = b"public"
"""The material of a profile that holds no secret (``auth_method: none``)."""

KEY_FILE = "fingerprint.key"
"""The per-user fingerprint key's file name in the file cache's directory."""

_INFO = b"tokenrack/credential-fingerprint/v1"
_SCRYPT_DOMAIN = b"tokenrack/credential-fingerprint/scrypt/v1"
_KEY_BYTES = 32
_DIGEST_BYTES = 16  # 128 bits

Fingerprint = Callable[[bytes, str], str]
"""``(material, context) -> fingerprint``; ``context`` names the client and its server."""

_process_key = secrets.token_bytes(_KEY_BYTES)


def credential_material(values: Mapping[str, Secret]) -> bytes:
    """The bytes a profile's credential is fingerprinted over: every secret, by option name.

    Options are length-prefixed and sorted, so ``{a: "bc"}`` and ``{ab: "c"}`` differ and the
    order they were written in does not matter. A profile with no secret is :data:`PUBLIC`,
    which no profile holding one can produce.
    """
    if not values:
        return PUBLIC
    out = bytearray(b"secrets")
    for name in sorted(values):
        for part in (name.encode(), values[name].reveal().encode()):
            out += len(part).to_bytes(8, "big") + part
    return bytes(out)


def _hmac_fingerprint(key: bytes) -> Fingerprint:
    def fingerprint(material: bytes, context: str) -> str:
        mac = hmac.new(key, _INFO + b"\0" + material, hashlib.sha256)
        return mac.digest()[:_DIGEST_BYTES].hex()

    return fingerprint


def _hkdf_sha256(ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) with an empty salt, 32 bytes of output."""
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def fleet_fingerprint(encryption_key: Secret) -> Fingerprint:
    """Fingerprints for a shared cache sealed with ``encryption_key`` (the fleet's key)."""
    return _hmac_fingerprint(_hkdf_sha256(encryption_key.reveal().encode(), _INFO))


def process_fingerprint() -> Fingerprint:
    """Fingerprints for the in-process cache, under a key this process drew at start."""
    return _hmac_fingerprint(_process_key)


def user_fingerprint(path: str | None) -> Fingerprint:
    """Fingerprints for the file cache at ``path`` (the default directory when None).

    Keyed by a random per-user key kept in the cache directory; when the directory cannot
    be used (another user's, a link, not writable), the per-process key (the file cache
    then refuses that directory too, so nothing is shared through it).
    """
    directory = os.path.expanduser(path) if path else default_cache_directory()
    try:
        return _hmac_fingerprint(_user_key(os.path.abspath(directory)))
    except (CacheError, OSError):
        return process_fingerprint()


def _user_key(directory: str) -> bytes:
    """The directory's fingerprint key, created (atomically, 0600) at its first use.

    Raises:
        CacheError: The directory or the key file is not ours alone, or the key is malformed.
        OSError: The directory or the key cannot be created.
    """
    return private_key(directory, KEY_FILE, _KEY_BYTES)


_scrypt_cache: dict[tuple[str, bytes], str] = {}
_scrypt_lock = threading.Lock()


def scrypt_fingerprint() -> Fingerprint:
    """Fingerprints for a shared cache without an encryption key (plaintext Redis).

    Anyone who can list the keys can test guesses offline, so each guess costs scrypt
    (n=2**14, r=8, p=1: about 50 ms and 16 MiB), salted with ``context`` so that no table
    serves two clients. Computed once per process per credential.
    """

    def fingerprint(material: bytes, context: str) -> str:
        # The memo is keyed by a per-process HMAC of the material, never the material.
        memo = (context, hmac.new(_process_key, material, hashlib.sha256).digest())
        with _scrypt_lock:
            found = _scrypt_cache.get(memo)
            if found is None:
                salt = _SCRYPT_DOMAIN + b"\0" + context.encode()
                derived = hashlib.scrypt(material, salt=salt, n=2**14, r=8, p=1, dklen=32)
                found = _scrypt_cache[memo] = derived[:_DIGEST_BYTES].hex()
        return found

    return fingerprint
