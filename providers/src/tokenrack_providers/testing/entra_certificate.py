"""Entra's certificate credentials, checked as strictly as Entra checks them.

A client registers a certificate (``EmulatorClient.public_key``, a PEM certificate) and
signs a ``client_assertion`` with its key. Entra finds the certificate by the thumbprint in
the assertion's header (``x5t#S256``, or the older SHA-1 ``x5t``), then checks the
signature with that certificate's public key, ``iss`` = ``sub`` = the ``client_id`` sent in
the body, ``aud`` = the token endpoint, and the time range (and, as the emulator does for
every assertion, refuses a replayed ``jti``). Each refusal carries the AADSTS
code Entra is reported to use for it (Microsoft asks clients not to key logic on them; the
codes here are for people reading the errors).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from tokenrack.testing.assertions import (
    AssertionError_,
    load_public_key,
    unverified,
    verify_assertion,
)
from tokenrack.testing.emulator import ASSERTION_TYPE, EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Exchange, Personality, Verdict

__all__ = ["CertificatePolicy", "check_certificate_assertion"]

METHOD = "private_key_jwt"
_DOCS = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"


@dataclass(frozen=True, slots=True)
class CertificatePolicy:
    """What an Entra tenant accepts in a certificate credential (both are [S] facts).

    Attributes:
        algorithms: Signature algorithms accepted (RS256 and PS256, as MSAL signs).
        thumbprint_headers: Headers that may name the certificate: ``x5t#S256`` (SHA-256)
            and the older ``x5t`` (SHA-1); ``x5t#S256`` wins when both are sent.
    """

    algorithms: frozenset[str] = frozenset({"RS256", "PS256"})
    thumbprint_headers: frozenset[str] = frozenset({"x5t#S256", "x5t"})


def _refused(status: int, error: str, description: str) -> Verdict:
    return None, METHOD, Personality.refusal(status, error, description)


def _thumbprints(certificate_pem: str) -> dict[str, str]:
    """The ``x5t#S256`` and ``x5t`` of a PEM certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )

    def encode(digest: bytes) -> str:
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    return {
        "x5t#S256": encode(hashlib.sha256(der).digest()),
        "x5t": encode(hashlib.sha1(der, usedforsecurity=False).digest()),
    }


def _not_registered(thumbprint: str, client_id: str) -> Verdict:
    return _refused(
        401,
        "invalid_client",
        "AADSTS700027: The certificate with identifier used to sign the client assertion "
        f"is not registered on application. [Reason - The key was not found., Thumbprint of "
        f"key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer "
        f"or directly use MS Graph to see configured keys for app Id '{client_id}'. Review "
        f"the documentation at {_DOCS} .]",
    )


def _registered_certificate(client: EmulatorClient) -> str | None:
    key = client.public_key
    return key if key and "BEGIN CERTIFICATE" in key and client.allows(METHOD) else None


def _find_thumbprint(header: dict[str, Any], accepted: Collection[str]) -> tuple[str, str] | None:
    for name in ("x5t#S256", "x5t"):
        if name in accepted and isinstance(header.get(name), str):
            return name, str(header[name])
    return None


def check_certificate_assertion(
    emulator: TokenEmulator,
    exchange: Exchange,
    params: Sequence[tuple[str, str]],
    policy: CertificatePolicy,
) -> Verdict:
    """Authenticate a ``client_assertion`` as Entra does a certificate credential.

    In Entra's order: the request's shape, the client, the certificate the thumbprint
    names, then the signature, claims and lifetime (``verify_assertion``) and replay.
    """
    read = _read_assertion(exchange, params)
    if not isinstance(read, _Assertion):
        return read
    client = emulator.find_client(read.client_id)
    if client is None:
        tenant = exchange.path.strip("/").split("/", 1)[0]
        return _refused(
            400,
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{read.client_id}' was not found in "
            f"the directory '{tenant}'.",
        )
    certificate = _matching_certificate(client, read, policy)
    if not isinstance(certificate, str):
        return certificate
    return _verify(emulator, exchange, client, read, certificate, policy)


@dataclass(frozen=True, slots=True)
class _Assertion:
    client_id: str
    assertion: str
    header: dict[str, Any]
    claims: dict[str, Any]


def _read_assertion(exchange: Exchange, params: Sequence[tuple[str, str]]) -> _Assertion | Verdict:
    """The assertion, decoded unverified, if the request is shaped as Entra requires."""
    if exchange.param("client_assertion_type", params) != ASSERTION_TYPE:
        return _refused(
            400,
            "invalid_request",
            f"AADSTS50027: Invalid JWT token. client_assertion_type must be {ASSERTION_TYPE}.",
        )
    client_id = exchange.param("client_id", params)
    if not client_id:
        return _refused(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        )
    assertion = exchange.param("client_assertion", params) or ""
    decoded = unverified(assertion)
    if decoded is None:
        return _refused(401, "invalid_client", "AADSTS50027: JWT token is invalid or malformed.")
    header, claims = decoded
    # Checked before the client is looked up (verify_assertion checks it again later):
    # Entra names this mismatch (AADSTS700021) even for a client_id it does not know.
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return _refused(
            401,
            "invalid_client",
            "AADSTS700021: Client assertion application identifier doesn't match "
            f"'client_id' parameter. Review the documentation at {_DOCS} .",
        )
    return _Assertion(client_id, assertion, header, claims)


def _matching_certificate(
    client: EmulatorClient, read: _Assertion, policy: CertificatePolicy
) -> str | Verdict:
    """The client's registered certificate, if the assertion's thumbprint header names it."""
    found = _find_thumbprint(read.header, policy.thumbprint_headers)
    if found is None:
        return _refused(
            401,
            "invalid_client",
            "AADSTS50027: Invalid JWT token. No certificate thumbprint specified in token header.",
        )
    name, thumbprint = found
    certificate = _registered_certificate(client)
    if certificate is None:
        return _not_registered(thumbprint, read.client_id)
    registered = _thumbprints(certificate)
    if client.x5t_s256 is not None:
        registered["x5t#S256"] = client.x5t_s256
    if thumbprint != registered[name]:
        return _not_registered(thumbprint, read.client_id)
    return certificate


def _verify(
    emulator: TokenEmulator,
    exchange: Exchange,
    client: EmulatorClient,
    read: _Assertion,
    certificate: str,
    policy: CertificatePolicy,
) -> Verdict:
    """The algorithm, then signature, claims and lifetime, then the ``jti`` (replay)."""
    alg = str(read.header.get("alg"))
    if alg not in policy.algorithms:
        supported = ", ".join(sorted(policy.algorithms))
        return _refused(
            401,
            "invalid_client",
            f"AADSTS5002738: Invalid JWT token. '{alg}' is not a supported signature "
            f"algorithm. Supported signing algorithms are: '{supported}'",
        )
    try:
        verified = verify_assertion(
            read.assertion,
            key=load_public_key(certificate),
            client_id=read.client_id,
            audiences={emulator.url + exchange.path},
            algorithms=policy.algorithms,
        )
    except AssertionError_ as refused:
        _, thumbprint = _find_thumbprint(read.header, policy.thumbprint_headers) or ("", "")
        return _refused(401, "invalid_client", _description(refused, thumbprint))
    if not emulator.first_use(str(verified.claims["jti"])):
        return _refused(
            401,
            "invalid_client",
            "AADSTS50027: Invalid JWT token. The assertion's jti was already used (replay).",
        )
    return client, METHOD, None


def _description(refused: AssertionError_, thumbprint: str) -> str:
    if refused.reason == "signature":
        return (
            "AADSTS700027: Client assertion contains an invalid signature. [Reason - The "
            "provided signature value did not match the expected signature value., "
            f"Thumbprint of key used by client: '{thumbprint}']"
        )
    if refused.reason == "lifetime":
        return f"AADSTS700024: Client assertion is not within its valid time range. ({refused})"
    if refused.reason == "audience":
        return (
            "AADSTS50027: Invalid JWT token. Client assertion audience claim does not match "
            f"the token endpoint. ({refused})"
        )
    return f"AADSTS50027: Invalid JWT token. ({refused})"
