"""An Apigee API proxy's token endpoint, with the OAuthV2 policy's answers and errors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["ApigeePersonality"]


class ApigeePersonality(Personality):
    """Apigee's default OAuthV2 policy behind a proxy path.

    Answers say ``token_type: "BearerToken"``, give ``expires_in`` as a string and
    ``issued_at`` in epoch milliseconds, with API product fields; errors are
    ``{"ErrorCode", "Error"}``.

    Args:
        path: The proxy's token path.
        grant_type_in: ``body`` (the OAuthV2 policy's default,
            ``request.formparam.grant_type``) or ``query`` (a proxy built from the classic
            sample, which reads it from the URL only).
    """

    name: ClassVar[str] = "apigee"

    def __init__(
        self, path: str = "/oauth/client_credential/accesstoken", *, grant_type_in: str = "body"
    ) -> None:
        self.path = path
        self.grant_type_in = grant_type_in

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """The proxy's token path."""
        return path == self.path

    def token_path(self, emulator: TokenEmulator) -> str:
        """The proxy's token path."""
        return self.path

    def parameters(self, exchange: Exchange) -> list[tuple[str, str]]:
        """The body's parameters, ``grant_type`` taken from where the policy reads it."""
        if self.grant_type_in != "query":
            return list(exchange.form)
        params = [(k, v) for k, v in exchange.form if k != "grant_type"]
        return params + [(k, v) for k, v in exchange.query if k == "grant_type"]

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """A ``grant_type`` where the policy reads it."""
        if exchange.param("grant_type", params) is None:
            return self.refusal(400, "invalid_request", "Invalid grant_type")
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The OAuthV2 policy's answer."""
        lifetime = body.get("expires_in")
        client_id = exchange.param("client_id", self.parameters(exchange))
        return {
            "refresh_token_expires_in": "0",
            "api_product_list": "[Payments]",
            "api_product_list_json": ["Payments"],
            "organization_name": "acme",
            "developer.email": "developer@acme.example",
            "token_type": "BearerToken",
            "issued_at": str(int(time.time() * 1000)),
            "client_id": client_id or "",
            "access_token": body["access_token"],
            "application_name": "payments-app",
            "scope": body.get("scope", ""),
            "expires_in": str(lifetime) if lifetime is not None else "3599",
            "refresh_count": "0",
            "status": "approved",
        }

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """``{"ErrorCode", "Error"}``; a bad client is ``ClientId is Invalid``."""
        code = str(answer.body.get("error", "invalid_request"))
        text = str(answer.body.get("error_description", ""))
        if code == "invalid_client":
            text = "ClientId is Invalid"
        elif code == "unsupported_grant_type":
            text = "Invalid Grant Type"
        return Answer(answer.status, {"ErrorCode": code, "Error": text}, answer.headers)
