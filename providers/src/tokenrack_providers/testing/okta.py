"""Okta's org and custom authorization servers, strictly."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar

from tokenrack.testing.dpop import DPoPPersonality
from tokenrack.testing.emulator import EmulatorClient, Fault, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["OktaPersonality"]

_ORG = "/oauth2/v1/token"
_CUSTOM = re.compile(r"^/oauth2/([A-Za-z0-9]+)/v1/token$")


class OktaPersonality(Personality):
    """``/oauth2/v1/token`` (org) and ``/oauth2/{server}/v1/token`` (custom servers).

    Custom servers need a scope and refuse ``okta.*`` scopes; the org server issues only
    ``okta.*`` scopes ("Custom scopes are not allowed for this request") and only to
    clients authenticating with ``private_key_jwt``. Unknown server ids are 404.

    With ``require_dpop`` it is an API Services app with "Require DPoP" on (the default
    for apps created since 2024): a request without a proof is refused with Okta's
    ``invalid_dpop_proof`` ("The DPoP proof JWT header is missing."), a proof without its
    nonce with ``use_dpop_nonce``, and tokens are ``token_type: DPoP``, bound to the key
    (checked as :class:`~tokenrack.testing.dpop.DPoPPersonality` does, in :attr:`dpop`).

    Args:
        servers: Custom authorization server ids that exist (``default`` by default).
        require_dpop: Require DPoP proofs (RFC 9449) on token requests.
    """

    name: ClassVar[str] = "okta"

    def __init__(
        self, servers: Iterable[str] = ("default",), *, require_dpop: bool = False
    ) -> None:
        self.servers = frozenset(servers)
        self.dpop = DPoPPersonality() if require_dpop else None

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """The org server's path, or any custom server's."""
        return path == _ORG or bool(_CUSTOM.match(path))

    def token_path(self, emulator: TokenEmulator) -> str:
        """The first custom server's path (the org server answers at ``/oauth2/v1/token``)."""
        return f"/oauth2/{sorted(self.servers)[0]}/v1/token"

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """The vendor's rules, then the DPoP proof when the app requires one."""
        refused = self._check_okta(exchange, method, params)
        if refused is not None or self.dpop is None:
            return refused
        if "dpop" not in exchange.headers:
            return self.refusal(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        return self.dpop.check(emulator, exchange, client, method, params)

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """The token; ``token_type: DPoP``, bound to the proof's key, when DPoP is required."""
        if self.dpop is not None:
            return self.dpop.grant(emulator, exchange, client, params)
        return super().grant(emulator, exchange, client, params)

    def _check_okta(
        self, exchange: Exchange, method: str | None, params: Sequence[tuple[str, str]]
    ) -> Answer | None:
        """The server exists; scopes fit the server; ``okta.*`` needs private_key_jwt."""
        scopes = (exchange.param("scope", params) or "").split()
        found = _CUSTOM.match(exchange.path)
        if found:
            if found.group(1) not in self.servers:
                return Answer(
                    404,
                    {
                        "errorCode": "E0000007",
                        "errorSummary": f"Not found: Resource not found: {found.group(1)} "
                        "(AuthorizationServer)",
                    },
                )
            if not scopes:
                return self.refusal(
                    400,
                    "invalid_scope",
                    "The authorization server resource does not have any configured default "
                    "scopes, 'scope' must be provided.",
                )
            management = [s for s in scopes if s.startswith("okta.")]
            if management:
                return self.refusal(
                    400, "invalid_scope", f"The following scopes are not allowed: {management[0]}"
                )
            return None
        if any(not s.startswith("okta.") for s in scopes):
            return self.refusal(
                400, "invalid_scope", "Custom scopes are not allowed for this request."
            )
        if method != "private_key_jwt":
            return self.refusal(
                400,
                "invalid_client",
                "Client Credentials requests to the Org Authorization Server must use the "
                "private_key_jwt token_endpoint_auth_method.",
            )
        return None

    @staticmethod
    def rate_limited(seconds: int = 2, *, now: float | None = None) -> Fault:
        """The 429 Okta sends when a rate limit is hit, resetting ``seconds`` after ``now``.

        ``x-rate-limit-reset`` is an absolute epoch time; pass the client's ``now`` when
        its clock is not the system's (a test's fake clock).
        """
        reset = int(time.time() if now is None else now) + seconds
        return Fault.http(
            429,
            {
                "errorCode": "E0000047",
                "errorSummary": "API call exceeded rate limit due to too many requests.",
            },
            headers={
                "X-Rate-Limit-Limit": "600",
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(reset),
            },
        )
