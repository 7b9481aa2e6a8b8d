"""Keycloak's realm token endpoint, strictly: its path, its realms, its refusals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["KeycloakPersonality"]

_PATH = re.compile(r"^(/auth)?/realms/([^/]+)/protocol/openid-connect/token$")


class KeycloakPersonality(Personality):
    """``/realms/{realm}/protocol/openid-connect/token`` (``/auth/…`` when ``legacy``).

    Basic credentials are form-decoded (RFC 6749 §2.3.1), as Keycloak does; failed client
    authentication is 401 ``unauthorized_client``; an unknown realm is 404 ``Realm does
    not exist``; answers add ``refresh_expires_in`` and ``not-before-policy``.

    Args:
        realms: The realms that exist.
        legacy: Serve under ``/auth`` as Keycloak 16 and earlier do (and only there).
    """

    name: ClassVar[str] = "keycloak"

    def __init__(self, realms: Iterable[str] = ("acme",), *, legacy: bool = False) -> None:
        self.realms = frozenset(realms)
        self.legacy = legacy

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """The realm token path, with ``/auth`` exactly when ``legacy``."""
        found = _PATH.match(path)
        return bool(found) and (found.group(1) is not None) == self.legacy  # type: ignore[union-attr]

    def token_path(self, emulator: TokenEmulator) -> str:
        """The first realm's token path (``/auth`` first when ``legacy``)."""
        prefix = "/auth" if self.legacy else ""
        return f"{prefix}/realms/{sorted(self.realms)[0]}/protocol/openid-connect/token"

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """The realm must exist."""
        found = _PATH.match(exchange.path)
        if found is None or found.group(2) not in self.realms:
            return Answer(404, {"error": "Realm does not exist"})
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Keycloak's extra fields; its default scopes when none were asked for."""
        body.setdefault("scope", "profile email")
        body.update({"refresh_expires_in": 0, "not-before-policy": 0})
        return body

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Failed client authentication as Keycloak words it."""
        if answer.body.get("error") == "invalid_client":
            return self.refusal(
                401, "unauthorized_client", "Invalid client or Invalid client credentials"
            )
        return answer
