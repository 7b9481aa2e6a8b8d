"""A Salesforce org's ``/services/oauth2/token``, strictly: no ``expires_in``, ever."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["SalesforcePersonality"]


class SalesforcePersonality(Personality):
    """Salesforce: answers carry ``instance_url``, ``issued_at`` (ms) and no lifetime.

    A client app without a Run As user is refused with ``invalid_grant: no client
    credentials user enabled``; bad credentials are 400 ``invalid_client``.

    Args:
        instance_url: The org's API base, as answered.
        without_run_as_user: Client ids whose app has no Run As user.
    """

    name: ClassVar[str] = "salesforce"

    def __init__(
        self,
        instance_url: str = "https://acme.my.salesforce.com",
        *,
        without_run_as_user: Iterable[str] = (),
    ) -> None:
        self.instance_url = instance_url
        self.without_run_as_user = frozenset(without_run_as_user)

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """``/services/oauth2/token``."""
        return path == "/services/oauth2/token"

    def token_path(self, emulator: TokenEmulator) -> str:
        """``/services/oauth2/token``."""
        return "/services/oauth2/token"

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """The app needs a Run As user."""
        if client.client_id in self.without_run_as_user:
            return self.refusal(400, "invalid_grant", "no client credentials user enabled")
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Salesforce's fields, without ``expires_in``."""
        return {
            "access_token": body["access_token"],
            "signature": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
            "scope": body.get("scope", "api"),
            "instance_url": self.instance_url,
            "id": f"{self.instance_url}/id/00D000000000001EAA/005000000000001AAA",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "api_instance_url": "https://api.salesforce.com",
        }

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Failed client authentication is a 400 here."""
        if answer.body.get("error") == "invalid_client":
            return self.refusal(400, "invalid_client", "invalid client credentials")
        return answer
