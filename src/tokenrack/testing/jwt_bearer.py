"""A strict token endpoint for the JWT-bearer grant (RFC 7523 §2.1, §3), vendor-neutral.

An issuer is an :class:`~tokenrack.testing.emulator.EmulatorClient` whose ``client_id`` is
the assertion's ``iss`` and whose ``public_key`` verifies it (:func:`jwt_bearer_client`).
:class:`JwtBearerPersonality` refuses what RFC 7523 §3 lets a server refuse: a bad
signature or ``alg``, a wrong ``aud``, an expired or too long-lived assertion, a missing
``sub`` (or one the issuer may not act as), a replayed ``jti``. Vendor personalities (the
vendor pack's ``tokenrack_providers.testing.jwt_bearer``) set its options and wording.
Assertions are verified with :mod:`tokenrack.testing.assertions` (cryptography, not PyJWT).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from tokenrack.testing.assertions import (
    AssertionError_,
    VerifiedAssertion,
    load_public_key,
    unverified,
    verify_grant_assertion,
)
from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality, Verdict

__all__ = ["JWT_BEARER", "JwtBearerPersonality", "jwt_bearer_client"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def jwt_bearer_client(
    issuer: str,
    public_key: str,
    *,
    scopes: Iterable[str] | None = None,
    client_secret: str = "",
) -> EmulatorClient:
    """An issuer the emulator accepts for the JWT-bearer grant.

    Args:
        issuer: The assertions' ``iss`` (and the client id, when the client authenticates).
        public_key: PEM public key, certificate, or public JWK (with ``kid`` to check it).
        scopes: Scopes it may ask for; None allows any.
        client_secret: A secret, for servers that also want client authentication.
    """
    methods = {"none"} | ({"client_secret_basic", "client_secret_post"} if client_secret else set())
    return EmulatorClient(
        issuer,
        client_secret=client_secret,
        public_key=public_key,
        auth_methods=frozenset(methods),
        grant_types=frozenset({JWT_BEARER}),
        scopes=frozenset(scopes) if scopes is not None else None,
    )


class JwtBearerPersonality(Personality):
    """The JWT-bearer grant, strictly; client authentication optional unless required.

    Args:
        audiences: Accepted ``aud`` values; None accepts only the token URL requested.
        subjects: For each issuer, the ``sub`` values it may act as; an issuer not named
            may use its own id only.
        require_subject: Refuse an assertion without ``sub`` (RFC 7523 §3 item 2).
        require_jti: Refuse an assertion without ``jti``.
        algorithms: Accepted ``alg`` values.
        max_lifetime: Longest ``exp`` - ``iat`` accepted.
        scope_claim: Read the scopes from the assertion's ``scope`` claim, not the request.
        require_client_auth: Refuse a request without client authentication (whose client
            must be the assertion's ``iss``).
        path: The token endpoint's path; None is the emulator's ``token_path``.

    Every ``jti`` is remembered: a replayed assertion is refused (``invalid_grant``).
    """

    name: ClassVar[str] = "jwt_bearer"
    auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"none", "client_secret_basic", "client_secret_post"}
    )

    def __init__(
        self,
        *,
        audiences: Collection[str] | None = None,
        subjects: Mapping[str, Iterable[str]] | None = None,
        require_subject: bool = True,
        require_jti: bool = False,
        algorithms: Collection[str] = frozenset({"RS256", "PS256", "ES256"}),
        max_lifetime: float = 3600.0,
        scope_claim: bool = False,
        require_client_auth: bool = False,
        path: str | None = None,
    ) -> None:
        self.audiences = frozenset(audiences) if audiences is not None else None
        self.subjects = {k: frozenset(v) for k, v in (subjects or {}).items()}
        self.require_subject = require_subject
        self.require_jti = require_jti
        self.algorithms = frozenset(algorithms)
        self.max_lifetime = max_lifetime
        self.scope_claim = scope_claim
        self.require_client_auth = require_client_auth
        self.path = path
        self.seen_jti: set[str] = set()

    # -- where ---------------------------------------------------------------------------

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """The configured path, else the emulator's ``token_path``."""
        return path == self.token_path(emulator)

    def token_path(self, emulator: TokenEmulator) -> str:
        """The configured path, else the emulator's ``token_path``."""
        return self.path or emulator.token_path

    # -- wording (vendors override) ------------------------------------------------------

    def describe(self, reason: str, message: str) -> tuple[str, str]:
        """The ``(error, error_description)`` of a refused assertion.

        ``reason`` is :class:`~tokenrack.testing.assertions.AssertionError_`'s (``signature``,
        ``audience``, ``lifetime``, ``claims``, ...), or ``subject``, ``replay``, ``jti``,
        ``issuer`` (no such issuer) and ``scope``.
        """
        return "invalid_grant", message

    def _refusal(self, reason: str, message: str, status: int = 400) -> Answer:
        error, description = self.describe(reason, message)
        return self.refusal(status, error, description)

    # -- who -----------------------------------------------------------------------------

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """The assertion's ``iss`` names the client; client credentials, if sent, must agree."""
        params = self.parameters(exchange)
        grant_type = exchange.param("grant_type", params)
        if grant_type != JWT_BEARER:
            return (
                None,
                None,
                self.refusal(
                    400,
                    "unsupported_grant_type",
                    f"grant_type {grant_type or ''!r} is not supported",
                ),
            )
        decoded = unverified(exchange.param("assertion", params) or "")
        if decoded is None:
            return (
                None,
                None,
                self.refusal(400, "invalid_request", "assertion missing or malformed"),
            )
        issuer = str(decoded[1].get("iss"))
        authenticated = "authorization" in exchange.headers or any(
            exchange.param(name, params) is not None
            for name in ("client_secret", "client_assertion")
        )
        if authenticated:
            client, method, failure = super().authenticate(emulator, exchange)
            if failure is None and client is not None and client.client_id != issuer:
                failure = self._refusal("issuer", "the assertion's iss is not the client")
            return client, method, failure
        if self.require_client_auth:
            return None, None, self.refusal(401, "invalid_client", "client authentication failed")
        client = emulator.find_client(issuer)
        if client is None or client.public_key is None or not client.allows("none"):
            return None, None, self._refusal("issuer", f"unknown issuer {issuer!r}")
        return client, "none", None

    # -- what ----------------------------------------------------------------------------

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """Verify the assertion: signature, ``aud``, lifetime, ``sub``, ``jti``, ``kid``."""
        assertion = exchange.param("assertion", params) or ""
        public_key = client.public_key or ""
        audiences = self.audiences or {emulator.url + exchange.path}
        try:
            verified = verify_grant_assertion(
                assertion,
                key=load_public_key(public_key),
                issuer=client.client_id,
                audiences=audiences,
                algorithms=self.algorithms,
                max_lifetime=self.max_lifetime,
            )
        except AssertionError_ as refused:
            return self._refusal(refused.reason, str(refused))
        return self._claims_refusal(client, verified, public_key)

    def _claims_refusal(
        self, client: EmulatorClient, verified: VerifiedAssertion, public_key: str
    ) -> Answer | None:
        registered_kid = _registered_kid(public_key)
        if registered_kid is not None and verified.header.get("kid") != registered_kid:
            return self._refusal("signature", "kid is not the registered key's")
        subject = verified.claims.get("sub")
        if subject is None:
            if self.require_subject:
                return self._refusal("subject", "sub is missing")
        elif subject != client.client_id and subject not in self.subjects.get(
            client.client_id, frozenset()
        ):
            return self._refusal("subject", f"{client.client_id} may not act as {subject!r}")
        jti = verified.claims.get("jti")
        if jti is None and self.require_jti:
            return self._refusal("jti", "jti is missing")
        if jti is not None:
            if str(jti) in self.seen_jti:
                return self._refusal("replay", "jti was already used (replay)")
            self.seen_jti.add(str(jti))
        if self.scope_claim:
            scope = verified.claims.get("scope")
            if not isinstance(scope, str) or not scope.split():
                return self._refusal("scope", "the assertion has no scope claim")
        return None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """Issue the token for the request's scopes (or the assertion's, with ``scope_claim``)."""
        kept = [(k, v) for k, v in params if k not in ("assertion", "client_secret")]
        if self.scope_claim:
            decoded = unverified(exchange.param("assertion", params) or "")
            scope = str(decoded[1].get("scope", "")) if decoded else ""
            kept = [(k, v) for k, v in kept if k != "scope"] + [("scope", scope)]
        return emulator.grant(client, kept)


def _registered_kid(public_key: str) -> str | None:
    text = public_key.strip()
    if not text.startswith("{"):
        return None
    kid: Any = json.loads(text).get("kid")
    return str(kid) if kid else None
