"""Keys and JWKs made in the test run (cryptography), for the JWT auth-method tests."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@cache
def private_key(kind: str) -> Any:
    if kind in ("rsa", "rsa-other"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def private_pem(kind: str) -> str:
    return (
        private_key(kind)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def public_pem(kind: str) -> str:
    return (
        private_key(kind)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _int(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwk(kind: str, *, private: bool, kid: str | None = None) -> str:
    key = private_key(kind)
    data: dict[str, Any]
    if kind == "rsa":
        numbers = key.private_numbers()
        public = numbers.public_numbers
        data = {"kty": "RSA", "n": _int(public.n), "e": _int(public.e)}
        if private:
            data.update(
                d=_int(numbers.d),
                p=_int(numbers.p),
                q=_int(numbers.q),
                dp=_int(numbers.dmp1),
                dq=_int(numbers.dmq1),
                qi=_int(numbers.iqmp),
            )
    elif kind in ("p256", "p384"):
        numbers = key.private_numbers()
        size = 32 if kind == "p256" else 48
        public = numbers.public_numbers
        data = {
            "kty": "EC",
            "crv": "P-256" if kind == "p256" else "P-384",
            "x": b64(public.x.to_bytes(size, "big")),
            "y": b64(public.y.to_bytes(size, "big")),
        }
        if private:
            data["d"] = b64(numbers.private_value.to_bytes(size, "big"))
    else:
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        data = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        if private:
            data["d"] = b64(
                key.private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                )
            )
    if kid:
        data["kid"] = kid
    return json.dumps(data)
