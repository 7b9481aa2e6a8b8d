"""An Amazon Cognito user pool's ``/oauth2/token``, strictly: form only, bare errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["CognitoPersonality"]


class CognitoPersonality(Personality):
    """Cognito: ``/oauth2/token``, form bodies only, scopes as ``{resource-server}/{scope}``.

    Errors are bare (``{"error": "invalid_scope"}``, no description), and the answer
    holds no ``scope``. ``aws_client_metadata``, when sent, must be a JSON object (it is
    handed to the pre-token-generation Lambda); the last one received is kept as
    ``client_metadata``.
    """

    def __init__(self) -> None:
        self.client_metadata: dict[str, Any] | None = None

    name: ClassVar[str] = "cognito"

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """``/oauth2/token``."""
        return path == "/oauth2/token"

    def token_path(self, emulator: TokenEmulator) -> str:
        """``/oauth2/token``."""
        return "/oauth2/token"

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """A form body, and resource-server scopes."""
        if exchange.media_type != "application/x-www-form-urlencoded":
            return self.refusal(400, "invalid_request", "")
        scopes = (exchange.param("scope", params) or "").split()
        if any("/" not in scope for scope in scopes):
            return self.refusal(400, "invalid_scope", "")
        metadata = exchange.param("aws_client_metadata", params)
        if metadata is not None:
            try:
                value = json.loads(metadata)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                return self.refusal(400, "invalid_request", "")
            self.client_metadata = value
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """No ``scope`` in the answer."""
        body.pop("scope", None)
        return body

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Only the error code."""
        return Answer(answer.status, {"error": answer.body.get("error")}, answer.headers)
