"""Signing JWTs: client assertions (RFC 7523) and plugins' own grants.

The only module that imports PyJWT and cryptography, and only when a private key is first
loaded: both come with the optional extra ``tokenrack[jwt]``. HMAC signatures
(``client_secret_jwt``) need neither: they are a few lines of the standard library.

PyJWT was chosen over joserfc for its reach (the most deployed JOSE library in Python,
typed, with every signature algorithm RFC 7518 and RFC 8037 define) and a small API that
takes cryptography key objects, so keys are loaded once with cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Defined with the material it is about, which every profile loads; this module (PyJWT,
# cryptography) loads only for a profile that signs (issue 15).
from tokenrack.auth.material import KeyMaterialError
from tokenrack.errors import without_frames
from tokenrack.util.extras import extra_installed
from tokenrack.util.log import get_logger

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "JWT_EXTRA",
    "MIN_RSA_BITS",
    "KeyMaterialError",
    "SigningKey",
    "ASSERTION_SKEW",
    "DEFAULT_ASSERTION_LIFETIME",
    "certificate_chain",
    "certificate_thumbprint",
    "check_key_strength",
    "client_assertion",
    "generate_key",
    "hmac_key",
    "jwt_available",
    "load_private_key",
    "public_jwk",
    "sign_jwt",
]

JWT_EXTRA = "tokenrack[jwt]"
"""The optional extra that signing with a private key needs (PyJWT and cryptography)."""

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_CURVE_ALGORITHM = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
MIN_RSA_BITS = 2048
"""The shortest RSA key accepted (NIST SP 800-131A; RFC 7518 §3.3 requires 2048 too)."""
_WARNED: set[tuple[int, str]] = set()

logger = get_logger(__name__)


def jwt_available() -> bool:
    """True when the ``tokenrack[jwt]`` extra (PyJWT and cryptography) is installed."""
    return extra_installed(JWT_EXTRA)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A loaded signing key and how to sign with it.

    Attributes:
        key: A cryptography private key, or the HMAC secret as bytes; never shown.
        algorithm: The JWS ``alg``.
        key_id: The ``kid`` to put in the header, if any.
    """

    key: Any = field(repr=False)
    algorithm: str
    key_id: str | None = None


def hmac_key(secret: str, algorithm: str = "HS256") -> SigningKey:
    """An HMAC key over a client secret (``client_secret_jwt``, RFC 7523 §2.2)."""
    if algorithm not in HMAC_ALGORITHMS:
        raise KeyMaterialError(f"{algorithm} is not an HMAC algorithm (use HS256, HS384 or HS512)")
    key = secret.encode()
    minimum = int(algorithm[2:]) // 8
    if len(key) < minimum and (len(key), algorithm) not in _WARNED:
        _WARNED.add((len(key), algorithm))
        logger.warning(
            "client_secret is %d bytes, shorter than the %d RFC 7518 §3.2 asks for %s; "
            "signing anyway (the server issued it), but some servers refuse such keys",
            len(key),
            minimum,
            algorithm,
        )
    return SigningKey(key, algorithm)


def _default_algorithm(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return _CURVE_ALGORITHM[key.curve.name]
        except KeyError:
            raise KeyMaterialError(f"EC curve {key.curve.name} has no JWS algorithm") from None
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return "EdDSA"
    raise KeyMaterialError(f"unsupported key type {type(key).__name__}")


def _check_pair(key: Any, algorithm: str) -> None:
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise KeyMaterialError(f"signing_alg {algorithm} cannot be used with a private key")
    natural = _default_algorithm(key)
    family = {"R": "RSA", "P": "RSA", "E": "EC", "Ed": "Ed"}
    wanted = family["Ed" if algorithm == "EdDSA" else algorithm[0]]
    have = family["Ed" if natural == "EdDSA" else natural[0]]
    if wanted != have or (have == "EC" and natural != algorithm):
        raise KeyMaterialError(f"signing_alg {algorithm} does not fit this key (use {natural})")


def check_key_strength(key: Any) -> None:
    """Refuse an RSA key shorter than :data:`MIN_RSA_BITS` and an EC key off P-256/384/521.

    Raises:
        KeyMaterialError: The key is too weak; says what would do.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise KeyMaterialError(
            f"the RSA key has {key.key_size} bits, too few: use at least {MIN_RSA_BITS}"
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _CURVE_ALGORITHM:
        raise KeyMaterialError(
            f"the EC key is on curve {key.curve.name}, which is not accepted: "
            "use P-256, P-384 or P-521"
        )


def load_private_key(
    material: str,
    *,
    algorithm: str | None = None,
    key_id: str | None = None,
    passphrase: str | None = None,
) -> SigningKey:
    """Load a PEM private key (encrypted or not) or a private JWK.

    Args:
        material: The PEM text or the JWK's JSON.
        algorithm: The JWS ``alg``; by default the JWK's ``alg``, else the key type's
            natural one (RS256, ES256/384/512 by curve, EdDSA).
        key_id: The ``kid``; by default the JWK's ``kid``.
        passphrase: For an encrypted PEM key.

    Raises:
        KeyMaterialError: Not a private key, a wrong passphrase, a weak key (RSA under
            2048 bits, EC off P-256/P-384/P-521), or an algorithm that does not fit the key.
    """
    text = material.strip()
    del material
    try:
        return _parse_private_key(text, algorithm=algorithm, key_id=key_id, passphrase=passphrase)
    except KeyMaterialError as error:
        # The frames below, and what they were raised from, hold the key as locals: an
        # error tracker recording them would receive it. The error goes on without them.
        del text, passphrase
        raise without_frames(error) from None


def _parse_private_key(
    text: str, *, algorithm: str | None, key_id: str | None, passphrase: str | None
) -> SigningKey:
    if text.startswith("{"):
        key, algorithm, key_id = _load_jwk(text, algorithm=algorithm, key_id=key_id)
    elif "-----BEGIN" in text:
        key = _load_pem(text, passphrase=passphrase)
        check_key_strength(key)
        algorithm = algorithm or _default_algorithm(key)
    else:
        raise KeyMaterialError("expected a PEM private key or a JWK")
    _check_pair(key, algorithm)
    return SigningKey(key, algorithm, key_id)


def _load_jwk(
    text: str, *, algorithm: str | None, key_id: str | None
) -> tuple[Any, str, str | None]:
    """The private key in a JWK, with its algorithm and key id unless given.

    Raises:
        KeyMaterialError: Not a usable JWK, or one without a private key.
    """
    import jwt

    try:
        data = json.loads(text)
        jwk = jwt.PyJWK(data)
    except (ValueError, jwt.PyJWTError) as error:
        raise KeyMaterialError(f"not a usable JWK ({type(error).__name__})") from None
    key = jwk.key
    if not hasattr(key, "sign"):
        raise KeyMaterialError("the JWK holds no private key")
    check_key_strength(key)
    return key, algorithm or data.get("alg") or _default_algorithm(key), key_id or data.get("kid")


def _load_pem(text: str, *, passphrase: str | None) -> Any:
    """The private key in PEM text, decrypted with ``passphrase`` if it is encrypted.

    Raises:
        KeyMaterialError: Not a PEM private key, a wrong or missing passphrase, or a
            passphrase for a key that is not encrypted.
    """
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if "PRIVATE KEY-----" not in text:
        found = "a certificate" if "BEGIN CERTIFICATE" in text else "other PEM"
        raise KeyMaterialError(f"expected a PEM private key, found {found}")
    encrypted = "BEGIN ENCRYPTED PRIVATE KEY" in text or "Proc-Type: 4,ENCRYPTED" in text
    try:
        return load_pem_private_key(
            text.encode(), password=passphrase.encode() if passphrase else None
        )
    except TypeError:
        raise KeyMaterialError(
            "the PEM key is encrypted and no passphrase was given"
            if not passphrase
            else "a passphrase was given but the PEM key is not encrypted"
        ) from None
    except ValueError:
        if encrypted and passphrase:
            raise KeyMaterialError("cannot decrypt the PEM key: the passphrase is wrong") from None
        raise KeyMaterialError("not a usable PEM private key") from None


def certificate_thumbprint(pem: str, *, digest: str = "sha256") -> str:
    """A thumbprint of the first certificate in ``pem``: base64url(hash(DER)).

    Args:
        pem: Text holding a PEM certificate.
        digest: ``sha256`` for the ``x5t#S256`` header (RFC 7515 §4.1.8), ``sha1`` for the
            older ``x5t`` (§4.1.7) that some servers still key certificates by.

    Raises:
        KeyMaterialError: No PEM certificate in the text.
    """
    start = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        raise KeyMaterialError("expected a PEM certificate")
    try:
        der = ssl.PEM_cert_to_DER_cert(pem[start : end + len("-----END CERTIFICATE-----")])
    except ValueError:
        raise KeyMaterialError("the PEM certificate does not decode") from None
    if digest == "sha1":
        # x5t is defined as SHA-1; it names a certificate, it protects nothing.
        hashed = hashlib.sha1(der, usedforsecurity=False).digest()
    else:
        hashed = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def certificate_chain(pem: str) -> list[str]:
    """Every PEM certificate in ``pem``, in order, as the ``x5c`` header wants them.

    RFC 7515 §4.1.6: standard base64 (not base64url) of each DER certificate, the signing
    certificate first. Entra uses it for subject name + issuer (SNI) authentication.

    Raises:
        KeyMaterialError: No PEM certificate in the text, or one that does not decode.
    """
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    chain: list[str] = []
    start = pem.find(begin)
    while start >= 0:
        stop = pem.find(end, start)
        if stop < 0:
            raise KeyMaterialError("a PEM certificate has no END line")
        try:
            der = ssl.PEM_cert_to_DER_cert(pem[start : stop + len(end)])
        except ValueError:
            raise KeyMaterialError("a PEM certificate does not decode") from None
        chain.append(base64.b64encode(der).decode("ascii"))
        start = pem.find(begin, stop)
    if not chain:
        raise KeyMaterialError("expected a PEM certificate")
    return chain


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hmac_jws(claims: Mapping[str, Any], key: SigningKey, header: dict[str, Any]) -> str:
    """HS256/384/512 (RFC 7515 §A.1), with the standard library.

    PyJWT warns on every signature when the key is shorter than the hash (RFC 7518 §3.2),
    and a client secret is whatever the vendor issued; tokenrack says so once instead.
    """
    header = {"alg": key.algorithm, **header}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signature = hmac.new(key.key, signing_input.encode(), digest[key.algorithm]).digest()
    return f"{signing_input}.{_b64url(signature)}"


def sign_jwt(
    claims: Mapping[str, Any], key: SigningKey, *, headers: Mapping[str, Any] | None = None
) -> str:
    """Sign ``claims`` as a compact JWS with ``key`` (``typ: JWT``, ``kid`` when known)."""
    header: dict[str, Any] = {"typ": "JWT", **(headers or {})}
    if key.key_id:
        header["kid"] = key.key_id
    if key.algorithm in HMAC_ALGORITHMS:
        return _hmac_jws(claims, key, header)
    import jwt

    return jwt.encode(dict(claims), key.key, algorithm=key.algorithm, headers=header)


DEFAULT_ASSERTION_LIFETIME = 300.0
"""Seconds from ``iat`` to ``exp`` of a client assertion unless the profile says otherwise.

Five minutes: what Auth0 allows at most, well under MSAL's 600 s, long enough for a slow
request to arrive inside it."""
ASSERTION_SKEW = 30
"""Seconds ``iat`` and ``nbf`` are set back, so a host clock that runs a little ahead of the
server's does not make the assertion "not yet valid"; ``exp`` - ``iat`` stays the lifetime."""


def client_assertion(
    *,
    client_id: str,
    audience: str,
    key: SigningKey,
    lifetime: float = DEFAULT_ASSERTION_LIFETIME,
    headers: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A client authentication assertion (RFC 7523 §3): fresh ``jti``, short ``exp``.

    ``iss`` and ``sub`` are the client id, ``aud`` the token endpoint (or what the profile
    says), ``iat`` and ``nbf`` now less :data:`ASSERTION_SKEW`, ``exp`` ``iat`` +
    ``lifetime``.
    """
    issued = int(time.time() if now is None else now) - ASSERTION_SKEW
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(18),
        "iat": issued,
        "nbf": issued,
        "exp": issued + max(1, int(lifetime)),
    }
    return sign_jwt(claims, key, headers=headers)


def generate_key(algorithm: str = "ES256") -> SigningKey:
    """A new key pair for ``algorithm``, held in memory only (a DPoP key, RFC 9449).

    ES256/384/512 get a key on their curve, RS*/PS* a 2048-bit RSA key, EdDSA Ed25519.

    Raises:
        KeyMaterialError: ``algorithm`` is not an asymmetric JWS algorithm.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise KeyMaterialError(f"cannot generate a key for {algorithm}")
    key: Any
    if algorithm.startswith("ES"):
        curves: dict[str, ec.EllipticCurve] = {
            "ES256": ec.SECP256R1(),
            "ES384": ec.SECP384R1(),
            "ES512": ec.SECP521R1(),
        }
        key = ec.generate_private_key(curves[algorithm])
    elif algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    return SigningKey(key, algorithm)


def _int_b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(length, "big"))


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The public half of ``key`` as a JWK holding only the members RFC 7638 §3.2 names.

    Raises:
        KeyMaterialError: An HMAC key (it has no public half) or an unsupported key type.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    private = key.key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        numbers = private.public_key().public_numbers()
        size = (private.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return {
            "crv": crv[private.curve.name],
            "kty": "EC",
            "x": _int_b64(numbers.x, size),
            "y": _int_b64(numbers.y, size),
        }
    if isinstance(private, rsa.RSAPrivateKey):
        rsa_numbers = private.public_key().public_numbers()
        return {"e": _int_b64(rsa_numbers.e), "kty": "RSA", "n": _int_b64(rsa_numbers.n)}
    if isinstance(private, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        crv_name = "Ed25519" if isinstance(private, ed25519.Ed25519PrivateKey) else "Ed448"
        return {"crv": crv_name, "kty": "OKP", "x": _b64url(raw)}
    raise KeyMaterialError("this key has no public JWK (an HMAC secret, or an unknown type)")
