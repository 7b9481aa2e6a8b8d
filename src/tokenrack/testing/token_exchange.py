"""A strict RFC 8693 token-exchange endpoint for the emulator: what a real server refuses.

:class:`TokenExchangePersonality` answers client-credentials requests as the plain
emulator does (so one emulator can issue a subject token and then exchange it), and checks
a token exchange the way a strict server does: ``subject_token`` and its type required
(§2.1), an actor token only with its type, known token types only, a JWT subject token
that is unexpired and, when configured, issued for the expected audience, an access-token
subject that this emulator issued, and an ``audience`` the server serves (``invalid_target``,
§2.2.2). The answer carries ``issued_token_type``, and ``token_type: N_A`` for a token that
is not an access token (§2.2.1).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tokenrack.testing import grant as rfc6749
from tokenrack.testing.personality import Exchange, Personality
from tokenrack.testing.values import Answer, EmulatorClient, error_answer

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["TOKEN_EXCHANGE", "TokenExchangePersonality", "jwt_claims"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_TYPE = "urn:ietf:params:oauth:token-type:"
_ACCESS_TOKEN = _TYPE + "access_token"
_JWT = _TYPE + "jwt"
_ID_TOKEN = _TYPE + "id_token"
_KNOWN_TYPES = frozenset({_ACCESS_TOKEN, _JWT, _ID_TOKEN})


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped token, unverified; None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


class TokenExchangePersonality(Personality):
    """RFC 8693 §2, strictly; client credentials as the plain emulator.

    A client may exchange only when its ``grant_types`` include :data:`TOKEN_EXCHANGE`.

    Args:
        audiences: The ``audience`` values this server issues tokens for; None allows any,
            and none. Another is refused with ``invalid_target``.
        subject_audiences: The ``aud`` a JWT subject token must name (one of them); None
            does not check it.
        not_access_tokens: Issued token types answered with ``token_type: N_A``.
    """

    name: ClassVar[str] = "rfc8693"

    def __init__(
        self,
        *,
        audiences: frozenset[str] | None = None,
        subject_audiences: frozenset[str] | None = None,
        not_access_tokens: frozenset[str] = frozenset({_ID_TOKEN}),
    ) -> None:
        self.audiences = audiences
        self.subject_audiences = subject_audiences
        self.not_access_tokens = not_access_tokens

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """A token exchange, checked; any other grant as the plain emulator answers it."""
        if rfc6749.param(params, "grant_type") != TOKEN_EXCHANGE:
            return super().grant(emulator, exchange, client, params)
        refused = rfc6749.grant_type_refusal(client, params) or self._refusal(emulator, params)
        if refused is not None:
            return refused
        scopes = (rfc6749.param(params, "scope") or "").split()
        audience = rfc6749.param(params, "audience")
        issued_type = rfc6749.param(params, "requested_token_type") or _ACCESS_TOKEN
        body: dict[str, Any] = {
            "access_token": emulator.issue_token(client, scopes, audience),
            "issued_token_type": issued_type,
            "token_type": "N_A" if issued_type in self.not_access_tokens else "Bearer",
        }
        if emulator.expires_in is not None:
            body["expires_in"] = emulator.expires_in
        if scopes:
            body["scope"] = " ".join(scopes)
        body.update(emulator.extra_response)
        return Answer(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _refusal(self, emulator: TokenEmulator, params: Sequence[tuple[str, str]]) -> Answer | None:
        """The first thing a strict server refuses in the exchange, or None."""
        for role, required in (("subject", True), ("actor", False)):
            token = rfc6749.param(params, f"{role}_token")
            kind = rfc6749.param(params, f"{role}_token_type")
            if token is None:
                if required:
                    return error_answer(400, "invalid_request", f"{role}_token is missing")
                continue
            if kind is None:
                return error_answer(400, "invalid_request", f"{role}_token_type is missing")
            refused = self._token_refusal(emulator, role, token, kind)
            if refused is not None:
                return refused
        requested = rfc6749.param(params, "requested_token_type")
        if requested is not None and requested not in _KNOWN_TYPES:
            return error_answer(
                400, "invalid_request", f"requested_token_type {requested} is not supported"
            )
        audience = rfc6749.param(params, "audience")
        if self.audiences is not None and audience not in self.audiences:
            shown = audience or "(none)"
            return error_answer(400, "invalid_target", f"audience {shown} is not served here")
        return None

    def _token_refusal(
        self, emulator: TokenEmulator, role: str, token: str, kind: str
    ) -> Answer | None:
        """A subject or actor token this server would not accept as ``kind``."""
        if kind not in _KNOWN_TYPES:
            return error_answer(
                400, "invalid_request", f"{role}_token_type {kind} is not supported"
            )
        claims = jwt_claims(token)
        if kind == _ACCESS_TOKEN:
            if token not in emulator.issued_tokens:
                return error_answer(400, "invalid_grant", f"{role}_token was not issued here")
        elif claims is None:
            return error_answer(400, "invalid_request", f"{role}_token is not a JWT")
        if claims is None:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= time.time():
            return error_answer(400, "invalid_grant", f"{role}_token is expired")
        if kind != _ACCESS_TOKEN and self.subject_audiences is not None:
            aud = claims.get("aud")
            named = {aud} if isinstance(aud, str) else set(aud if isinstance(aud, list) else ())
            if not named & self.subject_audiences:
                return error_answer(
                    400, "invalid_grant", f"{role}_token was not issued for this server"
                )
        return None
