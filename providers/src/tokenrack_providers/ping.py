"""The Ping Identity family: PingOne, PingFederate, and ForgeRock / PingOne AIC.

Sources (docs/providers/ping.md): PingOne at ``https://auth.pingone.{region}/{env}/as/token``
with the region in the top-level domain; PingFederate at ``{base_url}/as/token.oauth2``;
ForgeRock Access Management and PingOne Advanced Identity Cloud at
``{base_url}/oauth2/realms/root/realms/{realm}/access_token`` (the endpoint is named
``access_token``); ``realm: root`` is the top-level realm itself,
``{base_url}/oauth2/realms/root/access_token`` (PingAM's REST guide, "Realms").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from tokenrack.plugin import ConfigError
from tokenrack_providers._vendor import URL, VendorProvider, string

__all__ = ["PRODUCT_KEYS", "REGIONS", "PingProvider"]

REGIONS = ("com", "eu", "ca", "com.au", "sg", "asia")
"""PingOne's regions, as the top-level domains of ``auth.pingone.*``."""

PRODUCT_KEYS: Mapping[str, frozenset[str]] = {
    "pingone": frozenset({"environment_id", "region"}),
    "pingfederate": frozenset({"base_url"}),
    "forgerock": frozenset({"base_url", "realm"}),
}
"""The keys each product takes."""


class PingProvider(VendorProvider):
    """Client credentials against PingOne, PingFederate or ForgeRock / PingOne AIC.

    Profile keys: ``product`` (``pingone``, ``pingfederate``, ``forgerock``);
    ``environment_id`` and ``region`` for PingOne; ``base_url`` for PingFederate (e.g.
    ``https://sso.acme.example:9031``) and ForgeRock (up to ``/am``); ``realm`` for
    ForgeRock (``alpha``, or a path of sub-realms such as ``alpha/partners``; ``root``, or
    a path starting ``root/``, counts from the top-level realm).
    """

    name: ClassVar[str] = "ping"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["product", "client_id"],
        "properties": {
            "product": {"enum": sorted(PRODUCT_KEYS)},
            "environment_id": string(r"^[A-Za-z0-9-]+$", "a PingOne environment id (a UUID)"),
            "region": {"enum": list(REGIONS)},
            "base_url": URL,
            "realm": string(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", "a realm, e.g. alpha"),
        },
        "allOf": [
            {
                "if": {"properties": {"product": {"const": "pingone"}}},
                "then": {"required": ["environment_id"]},
            },
            {
                "if": {"properties": {"product": {"const": "pingfederate"}}},
                "then": {"required": ["base_url"]},
            },
            {
                "if": {"properties": {"product": {"const": "forgerock"}}},
                "then": {"required": ["base_url", "realm"]},
            },
        ],
    }

    @property
    def product(self) -> str:
        """``pingone``, ``pingfederate`` or ``forgerock``."""
        return str(self.options["product"])

    def check_options(self) -> None:
        """Refuse another product's keys (a sign the wrong ``product`` was chosen).

        Raises:
            ConfigError: A key that the chosen product does not use is set.
        """
        foreign = sorted(
            key
            for keys in PRODUCT_KEYS.values()
            for key in keys - PRODUCT_KEYS[self.product]
            if key in self.options
        )
        if foreign:
            raise ConfigError(
                f"{foreign[0]} is not used by product {self.product}",
                path=foreign[0],
            )

    def template_url(self) -> str:
        """The token endpoint of the chosen product."""
        options = self.options
        if self.product == "pingone":
            region = options.get("region", "com")
            return f"https://auth.pingone.{region}/{options['environment_id']}/as/token"
        base = str(options["base_url"]).rstrip("/")
        if self.product == "pingfederate":
            return f"{base}/as/token.oauth2"
        parts = str(options["realm"]).split("/")
        if parts[0] == "root":
            parts = parts[1:]  # the top-level realm, which every path starts from anyway
        realms = "".join(f"/realms/{quote(part, safe='')}" for part in parts)
        return f"{base}/oauth2/realms/root{realms}/access_token"
