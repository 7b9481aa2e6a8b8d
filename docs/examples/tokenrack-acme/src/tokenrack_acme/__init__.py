"""tokenrack provider plugin for Acme: one module, importing only ``tokenrack.plugin``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import ConfigError, Provider, ResponseFields

__all__ = ["AcmeProvider"]


class AcmeProvider(Provider):
    """Client credentials against Acme's per-tenant endpoint.

    Profile keys: ``tenant`` (required), ``region`` (``eu`` or ``us``, default ``eu``).
    """

    name: ClassVar[str] = "acme"  # must equal the entry-point name
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["tenant", "client_id"],
        "properties": {
            "tenant": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "region": {"enum": ["eu", "us"]},
        },
    }
    default_auth_method: ClassVar[str] = "client_secret_post"  # Acme wants the body
    response_fields: ClassVar[ResponseFields] = ResponseFields(expires_in="ttl")

    def check_options(self) -> None:
        """Acme's ``sandbox`` tenant exists only in the ``us`` region.

        Raises:
            ConfigError: ``tenant: sandbox`` with ``region: eu``.
        """
        if self.options["tenant"] == "sandbox" and self.options.get("region", "eu") != "us":
            raise ConfigError("the sandbox tenant lives in region us", path="region")

    def token_url(self) -> str:
        """``https://{tenant}.{region}.acme.example/oauth/token``, unless ``token_url`` is set."""
        override = self.options.get("token_url")
        if override:
            return str(override)
        region = self.options.get("region", "eu")
        return f"https://{self.options['tenant']}.{region}.acme.example/oauth/token"

    def extra_parameters(self) -> list[tuple[str, str]]:
        """Acme also wants the tenant in the form."""
        return [("tenant", str(self.options["tenant"]))]
