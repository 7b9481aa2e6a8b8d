"""Google's token endpoint for service accounts: the JWT-bearer grant, strictly.

A service account is an :class:`~tokenrack.testing.emulator.EmulatorClient` whose
``client_id`` is its email and whose ``public_key`` verifies its assertions (a public JWK
with a ``kid`` makes the assertion's ``kid`` checked too); :func:`write_service_account_key`
makes both, with a key file shaped like the ones Google issues. Assertions are verified
with :func:`~tokenrack.testing.assertions.verify_grant_assertion` (cryptography, not PyJWT).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tokenrack.testing.assertions import (
    AssertionError_,
    load_public_key,
    unverified,
    verify_grant_assertion,
)
from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality, Verdict

__all__ = [
    "EMULATOR_SERVICE_ACCOUNT",
    "JWT_BEARER",
    "GooglePersonality",
    "ServiceAccountKeyFile",
    "service_account_client",
    "write_service_account_key",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EMULATOR_SERVICE_ACCOUNT = "emulator@tokenrack-emulator.iam.gserviceaccount.com"
"""The service account ``tokenrack emulator --personality google`` registers."""
_PATHS = frozenset({"/token", "/o/oauth2/token"})  # oauth2.googleapis.com; the legacy one
# Google's wording, as seen in client libraries' issue reports ([I]: not Google's docs).
_BAD_SIGNATURE = "Invalid JWT Signature."
_BAD_TIME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)
_NO_SCOPE = "Empty or missing scope not allowed."
_NOT_DELEGATED = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_account_client(
    client_email: str, public_key: str, *, scopes: Iterable[str] | None = None
) -> EmulatorClient:
    """A service account the emulator accepts: it may use the JWT-bearer grant only.

    Args:
        client_email: Its email, the assertions' ``iss``.
        public_key: PEM public key, certificate, or public JWK (with ``kid`` to check it).
        scopes: Scopes it may ask for; None allows any.
    """
    return EmulatorClient(
        client_email,
        public_key=public_key,
        auth_methods=frozenset({"none"}),
        grant_types=frozenset({JWT_BEARER}),
        scopes=frozenset(scopes) if scopes is not None else None,
    )


@dataclass(frozen=True, slots=True)
class ServiceAccountKeyFile:
    """A service account key file written for a test or the demo.

    Attributes:
        path: The JSON key file (mode 0600).
        client: The matching service account, to give the emulator.
        private_key_id: The key's id (the ``kid`` its assertions carry).
    """

    path: Path
    client: EmulatorClient
    private_key_id: str


def write_service_account_key(
    path: Path,
    *,
    client_email: str,
    token_uri: str = "https://oauth2.googleapis.com/token",
    private_key: Any = None,
    private_key_id: str | None = None,
) -> ServiceAccountKeyFile:
    """Write a JSON key file as Google issues them, and the service account that fits it.

    Args:
        path: Where to write the file.
        client_email: The service account's email.
        token_uri: The token endpoint the file names.
        private_key: A cryptography RSA private key; a new 2048-bit one by default.
        private_key_id: Its id; a random one by default.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = private_key_id or secrets.token_hex(20)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    project = client_email.split("@", 1)[-1].split(".", 1)[0]
    document = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    path.chmod(0o600)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": key_id,
        "alg": "RS256",
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    return ServiceAccountKeyFile(
        path, service_account_client(client_email, json.dumps(jwk)), key_id
    )


class GooglePersonality(Personality):
    """``oauth2.googleapis.com/token`` for service accounts.

    Only ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an ``assertion``,
    and no client authentication. The assertion must be RS256, signed by the service
    account's key (its ``kid`` when the registered key names one), ``iss`` = the account,
    ``aud`` = the token endpoint requested, ``iat`` not in the future, ``exp`` - ``iat`` at
    most 3600 s, and carry a non-empty ``scope`` claim. A ``sub`` other than the account is
    domain-wide delegation: refused (``unauthorized_client``) unless ``delegations`` allows
    it. Answers are ``access_token``, ``expires_in``, ``token_type: "Bearer"``; refusals
    are RFC 6749 §5.2 with Google's descriptions (``invalid_grant`` / ``Invalid JWT
    Signature.``, …).

    Args:
        delegations: For each service account, the users it may act as.
        max_lifetime: Longest ``exp`` - ``iat`` accepted.
    """

    name: ClassVar[str] = "google"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"none"})

    def __init__(
        self,
        *,
        delegations: Mapping[str, Iterable[str]] | None = None,
        max_lifetime: float = 3600.0,
    ) -> None:
        self.delegations = {k: frozenset(v) for k, v in (delegations or {}).items()}
        self.max_lifetime = max_lifetime

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """``/token`` (and the legacy ``/o/oauth2/token``)."""
        return path in _PATHS

    def token_path(self, emulator: TokenEmulator) -> str:
        """``/token``."""
        return "/token"

    def prepare(self, emulator: TokenEmulator, directory: Path) -> list[str] | None:
        """Register a service account and write its key file into ``directory``.

        Raises:
            ImportError: cryptography, which makes the key, is not installed.
        """
        try:
            key = write_service_account_key(
                directory / "service-account.json",
                client_email=EMULATOR_SERVICE_ACCOUNT,
                token_uri=emulator.token_url,
            )
        except ImportError:
            raise ImportError(
                "the google personality makes a key with cryptography: pip install 'tokenrack[jwt]'"
            ) from None
        emulator.add_client(key.client)
        return [
            f"  accepts service account {EMULATOR_SERVICE_ACCOUNT} "
            "(the JWT-bearer grant, any scopes)",
            f"  its key file: {key.path} (made now, deleted when the emulator stops)",
        ]

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """No client authentication: the assertion's ``iss`` names the service account."""
        params = self.parameters(exchange)
        if (
            "authorization" in exchange.headers
            or exchange.param("client_secret", params) is not None
            or exchange.param("client_assertion", params) is not None
        ):
            return self._refused(
                400, "invalid_request", "client authentication is not used with this grant"
            )
        grant_type = exchange.param("grant_type", params)
        if grant_type != JWT_BEARER:
            return self._refused(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}"
            )
        decoded = unverified(exchange.param("assertion", params) or "")
        if decoded is None:
            return self._refused(400, "invalid_request", "Missing or malformed assertion.")
        client = emulator.find_client(str(decoded[1].get("iss")))
        if client is None or client.public_key is None or not client.allows("none"):
            return self._refused(400, "invalid_grant", "Invalid grant: account not found")
        return client, "none", None

    @staticmethod
    def _refused(status: int, error: str, description: str) -> Verdict:
        return None, "none", Personality.refusal(status, error, description)

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """Verify the assertion, its scope and any delegation."""
        assertion = exchange.param("assertion", params) or ""
        public_key = client.public_key or ""
        try:
            verified = verify_grant_assertion(
                assertion,
                key=load_public_key(public_key),
                issuer=client.client_id,
                audiences={emulator.url + exchange.path},
                algorithms={"RS256"},
                max_lifetime=self.max_lifetime,
            )
        except AssertionError_ as refused:
            description = {
                "signature": _BAD_SIGNATURE,
                "alg": _BAD_SIGNATURE,
                "lifetime": _BAD_TIME,
                "audience": f"Invalid JWT: Failed audience check. ({refused})",
            }.get(refused.reason, f"Invalid JWT: {refused}")
            return self.refusal(400, "invalid_grant", description)
        registered_kid = _registered_kid(public_key)
        if registered_kid is not None and verified.header.get("kid") != registered_kid:
            return self.refusal(400, "invalid_grant", _BAD_SIGNATURE)
        scope = verified.claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return self.refusal(400, "invalid_scope", _NO_SCOPE)
        subject = verified.claims.get("sub")
        delegated = self.delegations.get(client.client_id, frozenset())
        if subject not in (None, client.client_id) and subject not in delegated:
            return self.refusal(401, "unauthorized_client", _NOT_DELEGATED)
        return None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """Issue the token for the assertion's scopes (which the emulator checks)."""
        decoded = unverified(exchange.param("assertion", params) or "")
        scope = str(decoded[1].get("scope", "")) if decoded else ""
        granted = [(k, v) for k, v in params if k not in ("scope", "assertion")]
        return emulator.grant(client, [*granted, ("scope", scope)])

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``access_token``, ``expires_in`` and ``token_type`` only."""
        return {
            key: body[key] for key in ("access_token", "expires_in", "token_type") if key in body
        }


def _registered_kid(public_key: str) -> str | None:
    text = public_key.strip()
    if not text.startswith("{"):
        return None
    kid = json.loads(text).get("kid")
    return str(kid) if kid else None
