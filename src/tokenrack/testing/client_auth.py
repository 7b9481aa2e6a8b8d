"""How the emulator authenticates a client (RFC 6749 §2.3, RFC 7523 §3, RFC 8705 §2).

Exactly one method per request, checked strictly: HTTP Basic (form-decoded as RFC 6749
§2.3.1 says, or raw for servers that skip it), the body's ``client_secret``, a JWT client
assertion verified with :mod:`tokenrack.testing.assertions` (cryptography, not PyJWT), a TLS
client certificate, or a public client. Each check returns a
:data:`~tokenrack.testing.values.Verdict`; the emulator's public hooks
(:meth:`~tokenrack.testing.emulator.TokenEmulator.find_client`,
:meth:`~tokenrack.testing.emulator.TokenEmulator.first_use`) are all they use of it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from tokenrack.testing.values import ASSERTION_TYPE, PeerCertificate, Verdict, error_answer

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["HMAC_ALGS", "SIGNATURE_ALGS", "authenticate"]

HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
"""``client_secret_jwt`` algorithms (RFC 7518 §3.2)."""
SIGNATURE_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""``private_key_jwt`` algorithms."""


def _first(form: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in form if k == name), None)


def _refused(status: int, description: str, method: str | None = None, **headers: str) -> Verdict:
    error = "invalid_request" if status == 400 else "invalid_client"
    return None, method, error_answer(status, error, description, **headers)


def authenticate(
    emulator: TokenEmulator,
    headers: Mapping[str, str],
    form: Sequence[tuple[str, str]],
    peer: PeerCertificate | None = None,
) -> Verdict:
    """The client, the method it used, or the refusal (``invalid_request`` for two methods).

    Args:
        emulator: Whose clients, Basic decoding and seen ``jti`` values count.
        headers: The request's headers, names lower-cased.
        form: The token request's parameters.
        peer: The TLS client certificate presented, if any.
    """
    authorization = headers.get("authorization", "")
    body_id = _first(form, "client_id")
    body_secret = _first(form, "client_secret")
    assertion = _first(form, "client_assertion")
    used_basic = authorization[:6].lower() == "basic "
    if sum((used_basic, body_secret is not None, assertion is not None)) > 1:
        return _refused(400, "more than one client authentication method was used")
    if used_basic:
        return _check_basic(emulator, authorization[6:].strip())
    if assertion is not None:
        return _check_assertion(emulator, form, assertion, body_id)
    if body_id is not None and body_secret is not None:
        return _check_secret(emulator, body_id, body_secret, "client_secret_post")
    if body_id is not None:
        return _check_unsecretive(emulator, body_id, peer)
    return _refused(401, "no client authentication", None, **{"WWW-Authenticate": "Basic"})


def _check_basic(emulator: TokenEmulator, credentials: str) -> Verdict:
    """RFC 6749 §2.3.1: Base64 of the form-encoded id and secret, joined by a colon."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return _refused(400, "malformed Basic credentials")
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        return _refused(400, "malformed Basic credentials")
    if emulator.basic_decoding == "rfc6749":
        raw_id, raw_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    return _check_secret(emulator, raw_id, raw_secret, "client_secret_basic")


def _check_secret(emulator: TokenEmulator, client_id: str, secret: str, method: str) -> Verdict:
    client = emulator.find_client(client_id)
    challenge = {"WWW-Authenticate": 'Basic realm="emulator"'} if method.endswith("basic") else {}
    if (
        client is None
        or not client.client_secret
        or not secrets.compare_digest(client.client_secret.encode(), secret.encode())
    ):
        return _refused(401, "client authentication failed", method, **challenge)
    if not client.allows(method):
        return _refused(401, f"this client may not use {method}", method, **challenge)
    return client, method, None


def _check_assertion(
    emulator: TokenEmulator, form: Sequence[tuple[str, str]], assertion: str, body_id: str | None
) -> Verdict:
    """``client_secret_jwt`` or ``private_key_jwt`` (RFC 7523 §3), verified without PyJWT."""
    from tokenrack.testing.assertions import unverified

    if _first(form, "client_assertion_type") != ASSERTION_TYPE:
        return _refused(400, "unsupported client_assertion_type")
    decoded = unverified(assertion)
    if decoded is None:
        return _refused(401, "client_assertion is not a JWT")
    header, claims = decoded
    issuer = str(claims.get("iss"))
    method = "client_secret_jwt" if str(header.get("alg")) in HMAC_ALGS else "private_key_jwt"
    client = emulator.find_client(issuer)
    if client is None or (body_id is not None and body_id != issuer):
        return _refused(401, "unknown client", method)
    if not client.allows(method):
        return _refused(401, f"this client may not use {method}", method)
    return _verify_assertion(emulator, assertion, header, (client, method, None))


def _verify_assertion(
    emulator: TokenEmulator, assertion: str, header: Mapping[str, Any], found: Verdict
) -> Verdict:
    """Signature, claims and lifetime (assertions.verify_assertion), then replay and ``x5t``."""
    from tokenrack.testing.assertions import AssertionError_, load_public_key, verify_assertion

    client, method, _ = found
    assert client is not None and method is not None
    hmac = method == "client_secret_jwt"
    try:
        verified = verify_assertion(
            assertion,
            key=client.client_secret.encode() if hmac else load_public_key(client.public_key or ""),
            client_id=client.client_id,
            audiences=emulator.assertion_audiences(),
            algorithms=HMAC_ALGS if hmac else SIGNATURE_ALGS,
        )
    except AssertionError_ as refused:
        return _refused(401, f"client_assertion: {refused}", method)
    if not emulator.first_use(str(verified.claims["jti"])):
        return _refused(401, "client_assertion: jti was already used (replay)", method)
    if client.x5t_s256 is not None and header.get("x5t#S256") != client.x5t_s256:
        return _refused(401, "x5t#S256 does not match", method)
    return found


def _check_unsecretive(
    emulator: TokenEmulator, client_id: str, peer: PeerCertificate | None
) -> Verdict:
    """Mutual TLS (RFC 8705 §2), or a public client (``none``)."""
    client = emulator.find_client(client_id)
    if client is None:
        return _refused(401, "unknown client")
    if peer is not None and client.tls_subject is not None:
        if peer.subject == client.tls_subject and client.allows("tls_client_auth"):
            return client, "tls_client_auth", None
        return _refused(401, "client certificate subject does not match", "tls_client_auth")
    if peer is not None and client.tls_thumbprint is not None:
        method = "self_signed_tls_client_auth"
        if peer.thumbprint == client.tls_thumbprint and client.allows(method):
            return client, method, None
        return _refused(401, "client certificate is not the registered one", method)
    if client.allows("none"):
        return client, "none", None
    return _refused(401, "no client authentication")
