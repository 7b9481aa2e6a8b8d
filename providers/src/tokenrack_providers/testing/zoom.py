"""Zoom's Server-to-Server OAuth ``/oauth/token``, strictly: Basic, account credentials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["ZoomPersonality"]


class ZoomPersonality(Personality):
    """Zoom: ``grant_type=account_credentials`` and ``account_id``, from the query or body.

    Only Basic client authentication; the answer's ``token_type`` is lowercase
    ``bearer``, with the app's scopes and ``api_url``; errors carry ``reason``.

    Args:
        accounts: Each client id's account id; a client not listed accepts any.
        api_url: The API host answered.
    """

    name: ClassVar[str] = "zoom"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"client_secret_basic"})
    query_parameters: ClassVar[bool] = True

    def __init__(
        self, accounts: Mapping[str, str] | None = None, *, api_url: str = "https://api.zoom.us"
    ) -> None:
        self.accounts = dict(accounts or {})
        self.api_url = api_url

    def accepts(self, emulator: TokenEmulator) -> list[str]:
        """The ``account_id`` each client must send (any, for a client not listed)."""
        lines = [
            f"  account_id: {account} (client {client_id})"
            for client_id, account in sorted(self.accounts.items())
        ]
        if any(client_id not in self.accounts for client_id in emulator.clients):
            lines.append("  account_id: required, any value" + (" for the others" if lines else ""))
        return lines

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """The grant type is ``account_credentials``, for the app's own account."""
        if exchange.param("grant_type", params) != "account_credentials":
            return self.refusal(400, "unsupported_grant_type", "unsupported grant type")
        account = exchange.param("account_id", params)
        if not account:
            return self.refusal(400, "invalid_request", "Invalid request : Missing account_id")
        expected = self.accounts.get(client.client_id)
        if expected is not None and account != expected:
            return self.refusal(400, "invalid_request", "Invalid request : Invalid account_id")
        return None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """A token with the app's scopes (none are requested)."""
        body = {
            "access_token": emulator.issue_token(client, [], None),
            "token_type": "bearer",
            "expires_in": emulator.expires_in if emulator.expires_in is not None else 3600,
            "scope": "meeting:read:admin user:read:admin",
            "api_url": self.api_url,
        }
        return Answer(200, body, {"Cache-Control": "no-store"})

    def wrong_auth_method(self, method: str | None) -> Answer:
        """Body credentials are not looked at: the client is unauthenticated."""
        return self.refusal(401, "invalid_client", "Invalid client_id or client_secret")

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Zoom's ``{"reason", "error"}``."""
        body = {
            "reason": answer.body.get("error_description", ""),
            "error": answer.body.get("error"),
        }
        return Answer(answer.status, body, answer.headers)
