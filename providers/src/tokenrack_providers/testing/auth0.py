"""Auth0's ``/oauth/token``, strictly: ``audience`` required, Auth0's refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["Auth0Personality"]


class Auth0Personality(Personality):
    """Auth0: form or JSON bodies; ``audience`` (or ``resource``) required.

    Without one, 403 ``access_denied`` ("No audience parameter was provided…"); an API the
    client has no grant for is 403 ``access_denied`` naming the missing client grant; bad
    credentials are 401 ``access_denied: Unauthorized``.
    """

    name: ClassVar[str] = "auth0"

    def accepts(self, emulator: TokenEmulator) -> list[str]:
        """The audience is required: the ones each client has a grant for, or any."""
        lines = []
        for client_id, client in sorted(emulator.clients.items()):
            allowed = " ".join(sorted(client.audiences)) if client.audiences is not None else ""
            lines.append(
                f"  audience (or resource): required; {client_id} may ask for " + (allowed or "any")
            )
        return lines

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """An audience is required, and the client needs a grant for it."""
        audience = exchange.param("audience", params) or exchange.param("resource", params)
        if not audience:
            return self.refusal(
                403,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        if client.audiences is not None and audience not in client.audiences:
            return self.refusal(
                403,
                "access_denied",
                f'Client is not authorized to access "{audience}". You might probably want '
                f'to create a "client-grant" associated to this API. See: '
                f"https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants",
            )
        return None

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Failed client authentication reads ``access_denied: Unauthorized``."""
        if answer.body.get("error") == "invalid_client":
            return self.refusal(401, "access_denied", "Unauthorized")
        return answer
