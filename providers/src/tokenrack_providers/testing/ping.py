"""The Ping family's token endpoints: PingOne, PingFederate, ForgeRock / PingOne AIC."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.personality import Answer, Exchange, Personality

__all__ = ["PingPersonality"]

_PATHS = {
    "pingone": re.compile(r"^/[A-Za-z0-9-]+/as/token$"),
    "pingfederate": re.compile(r"^(/[^/]+)*/as/token\.oauth2$"),
    # The top-level realm is /oauth2/access_token or /oauth2/realms/root/access_token; it
    # has no sub-realm called root (PingAM 8, "Realms" in the REST guide).
    "forgerock": re.compile(
        r"^(/[^/]+)*/oauth2(/realms/root(/realms/(?!root/)[^/]+)*)?/access_token$"
    ),
}


class PingPersonality(Personality):
    """One Ping product's token endpoint; POST with a form body only.

    Args:
        product: ``pingone`` (``/{environment}/as/token``), ``pingfederate``
            (``/as/token.oauth2``) or ``forgerock`` (``…/oauth2/realms/root/realms/{realm}
            /access_token``; the top-level realm's ``…/oauth2/realms/root/access_token``).
    """

    name: ClassVar[str] = "ping"

    def __init__(self, product: str = "pingone") -> None:
        if product not in _PATHS:
            raise ValueError(f"product must be one of {sorted(_PATHS)}")
        self.product = product

    def __repr__(self) -> str:
        return f"PingPersonality(product={self.product!r})"

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """The product's token path."""
        return bool(_PATHS[self.product].match(path))

    def token_path(self, emulator: TokenEmulator) -> str:
        """An example path of the product: an environment id, the root, a realm."""
        return {
            "pingone": "/3f8c2a52-0000-4000-8000-000000000000/as/token",
            "pingfederate": "/as/token.oauth2",
            "forgerock": "/am/oauth2/realms/root/realms/alpha/access_token",
        }[self.product]

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """A form body (PingFederate documents it as required)."""
        if exchange.media_type != "application/x-www-form-urlencoded":
            return self.refusal(
                400,
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            )
        return None
