"""Checking JWT assertions (RFC 7523 §3) the way a strict server does.

Client assertions (§2.2, ``private_key_jwt`` and ``client_secret_jwt``) with
:func:`verify_assertion`; assertions used as an authorization grant (§2.1, e.g. a Google
service account's) with :func:`verify_grant_assertion`. Written on cryptography's
primitives, not on PyJWT, so that the emulator and the tests verify what tokenrack signs
with a second, independent implementation: a bug in how tokenrack uses PyJWT cannot hide
behind the same library on the other side. Only the reading of base64url JSON segments is
shared with the library (:func:`tokenrack.oauth.response.decode_jws_parts`).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from tokenrack.oauth.response import b64url_decode, decode_jws_parts

__all__ = [
    "AssertionError_",
    "VerifiedAssertion",
    "load_public_key",
    "unverified",
    "verify_assertion",
    "verify_grant_assertion",
]

_HASHES = {"256": "SHA256", "384": "SHA384", "512": "SHA512"}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


class AssertionError_(ValueError):  # noqa: N801, N818 - not the builtin AssertionError
    """The assertion is refused; the message says why (as a server's error_description).

    Attributes:
        reason: Which check failed, for a server that words each failure its own way:
            ``malformed``, ``alg``, ``signature``, ``claims`` (``iss``/``sub``),
            ``audience``, ``lifetime`` (``exp``, ``iat``, ``nbf``), ``jti`` or ``replay``.
    """

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """An assertion that passed every check.

    Attributes:
        header: Its JOSE header.
        claims: Its claims.
    """

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


def _b64(part: str) -> bytes:
    try:
        return b64url_decode(part)
    except ValueError:
        raise AssertionError_("not base64url") from None


def unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a compact JWS, unverified, or None if it is not one.

    For a server that must read ``iss`` (or a thumbprint) to find the key to verify with.
    """
    return decode_jws_parts(assertion)


def load_public_key(material: str) -> Any:
    """A cryptography public key from PEM (a public key or a certificate) or a public JWK."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    text = material.strip()
    if text.startswith("{"):
        return _jwk_public_key(json.loads(text))
    if "BEGIN CERTIFICATE" in text:
        return x509.load_pem_x509_certificate(text.encode()).public_key()
    return serialization.load_pem_public_key(text.encode())


def _jwk_public_key(jwk: Mapping[str, Any]) -> Any:
    """A public key from a JWK's numbers (RFC 7518 §6), with cryptography alone."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    def number(name: str) -> int:
        return int.from_bytes(_b64(str(jwk[name])), "big")

    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    if kty == "EC":
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        curve = curves[str(jwk["crv"])]
        return ec.EllipticCurvePublicNumbers(number("x"), number("y"), curve).public_key()
    if kty == "OKP":
        raw = _b64(str(jwk["x"]))
        if jwk.get("crv") == "Ed448":
            return ed448.Ed448PublicKey.from_public_bytes(raw)
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    raise AssertionError_(f"unsupported JWK kty {kty!r}")


def _check_signature(alg: str, signing_input: bytes, signature: bytes, key: Any) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils

    try:
        if alg.startswith("HS"):
            digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]
            expected = hmac.new(key, signing_input, digest).digest()
            if not hmac.compare_digest(expected, signature):
                raise InvalidSignature
            return
        if alg == "EdDSA":
            if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
                raise AssertionError_("EdDSA needs an Ed25519 or Ed448 key", reason="alg")
            key.verify(signature, signing_input)
            return
        algorithm = getattr(hashes, _HASHES[alg[2:]])()
        if alg.startswith(("RS", "PS")):
            if not isinstance(key, rsa.RSAPublicKey):
                raise AssertionError_(f"{alg} needs an RSA key", reason="alg")
            pad = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
                else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            )
            key.verify(signature, signing_input, pad, algorithm)
            return
        if alg.startswith("ES"):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise AssertionError_(f"{alg} needs an EC key", reason="alg")
            size = _EC_SIZES[alg]
            if len(signature) != 2 * size:
                raise AssertionError_("ECDSA signature has the wrong length", reason="signature")
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(utils.encode_dss_signature(r, s), signing_input, ec.ECDSA(algorithm))
            return
    except InvalidSignature:
        raise AssertionError_("signature does not verify", reason="signature") from None
    except KeyError:
        pass
    raise AssertionError_(f"alg {alg} is not accepted", reason="alg")


def _decode(
    assertion: str, *, key: Any, algorithms: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS whose ``alg`` is accepted and signature verifies."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AssertionError_("not a compact JWS")
    decoded = decode_jws_parts(assertion)
    if decoded is None:
        raise AssertionError_("header or claims are not base64url JSON objects")
    header, claims = decoded
    alg = header.get("alg")
    if alg not in algorithms:
        raise AssertionError_(f"alg {alg!r} is not accepted", reason="alg")
    _check_signature(str(alg), f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2]), key)
    return header, claims


def _check_audience(claims: Mapping[str, Any], audiences: Collection[str]) -> None:
    audience = claims.get("aud")
    stated = audience if isinstance(audience, list) else [audience]
    if not any(a in audiences for a in stated):
        raise AssertionError_(f"aud {audience!r} is not this server", reason="audience")


def _check_not_expired(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now - leeway:
        raise AssertionError_("assertion expired or has no exp", reason="lifetime")
    return float(exp)


def _check_not_future(claims: Mapping[str, Any], name: str, now: float, leeway: float) -> None:
    value = claims.get(name)
    if value is not None and (not isinstance(value, (int, float)) or value > now + leeway):
        raise AssertionError_(f"{name} is in the future", reason="lifetime")


def verify_assertion(
    assertion: str,
    *,
    key: Any,
    client_id: str,
    audiences: Collection[str],
    algorithms: Collection[str],
    seen_jti: set[str] | None = None,
    max_lifetime: float = 600.0,
    leeway: float = 30.0,
    now: float | None = None,
) -> VerifiedAssertion:
    """Verify a client assertion (RFC 7523 §2.2, §3) strictly.

    Args:
        assertion: The compact JWS.
        key: The HMAC secret (bytes) or the public key.
        client_id: Who must be ``iss`` and ``sub``.
        audiences: Accepted ``aud`` values (the token URL, the issuer).
        algorithms: Accepted ``alg`` values.
        seen_jti: ``jti`` values already used; the assertion's is added (replay check).
        max_lifetime: Longest ``exp`` minus now accepted.
        leeway: Clock skew tolerated.
        now: The current epoch time.

    Raises:
        AssertionError_: Any check fails.
    """
    now = time.time() if now is None else now
    header, claims = _decode(assertion, key=key, algorithms=algorithms)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionError_("iss and sub must both be the client id", reason="claims")
    _check_audience(claims, audiences)
    exp = _check_not_expired(claims, now, leeway)
    if exp - now > max_lifetime:
        raise AssertionError_("assertion lives too long", reason="lifetime")
    for name in ("nbf", "iat"):
        _check_not_future(claims, name, now, leeway)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise AssertionError_("jti is missing", reason="jti")
    if seen_jti is not None:
        if jti in seen_jti:
            raise AssertionError_("jti was already used (replay)", reason="replay")
        seen_jti.add(jti)
    return VerifiedAssertion(header, claims)


def verify_grant_assertion(
    assertion: str,
    *,
    key: Any,
    issuer: str,
    audiences: Collection[str],
    algorithms: Collection[str],
    max_lifetime: float = 3600.0,
    leeway: float = 30.0,
    now: float | None = None,
) -> VerifiedAssertion:
    """Verify an assertion presented as an authorization grant (RFC 7523 §2.1, §3) strictly.

    Unlike a client assertion, ``sub`` names whom the token is for (a delegated user) and
    may be absent, and no ``jti`` is required; ``iat`` is, and ``exp`` - ``iat`` may not
    exceed ``max_lifetime`` (Google allows one hour).

    Args:
        assertion: The compact JWS.
        key: The issuer's public key.
        issuer: Who must be ``iss`` (e.g. the service account's email).
        audiences: Accepted ``aud`` values (the token URL).
        algorithms: Accepted ``alg`` values.
        max_lifetime: Longest ``exp`` minus ``iat`` accepted.
        leeway: Clock skew tolerated.
        now: The current epoch time.

    Raises:
        AssertionError_: Any check fails.
    """
    now = time.time() if now is None else now
    header, claims = _decode(assertion, key=key, algorithms=algorithms)
    if claims.get("iss") != issuer:
        raise AssertionError_("iss is not the issuer", reason="claims")
    _check_audience(claims, audiences)
    exp = _check_not_expired(claims, now, leeway)
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)):
        raise AssertionError_("iat is missing", reason="lifetime")
    _check_not_future(claims, "iat", now, leeway)
    if exp - iat > max_lifetime or exp <= iat:
        raise AssertionError_(
            f"exp - iat must be positive and at most {max_lifetime:.0f}s", reason="lifetime"
        )
    return VerifiedAssertion(header, claims)
