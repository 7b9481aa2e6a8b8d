"""Zoom Server-to-Server OAuth: ``grant_type=account_credentials`` with ``account_id``.

Sources (docs/providers/zoom.md): ``POST https://zoom.us/oauth/token`` with Basic client
authentication only; Zoom's documentation puts ``grant_type`` and ``account_id`` in the
query string (a form body works too: ``params_in: body``); scopes come from the app's
configuration, not the request; the answer's ``token_type`` is a lowercase ``bearer``
(normalised by the core) and ``api_url`` names the API host (kept in ``token.extra``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from tokenrack.plugin import ConfigError, TokenRequest
from tokenrack_providers._vendor import VendorProvider, string

__all__ = ["ZoomProvider"]


class ZoomProvider(VendorProvider):
    """Server-to-Server OAuth against Zoom.

    Profile keys: ``account_id`` (required), ``params_in`` (``query``, as Zoom documents,
    or ``body``).
    """

    name: ClassVar[str] = "zoom"
    grant_type: ClassVar[str] = "account_credentials"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset({"client_secret_basic"})
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["account_id", "client_id"],
        "properties": {
            "account_id": string(r"^[A-Za-z0-9_-]+$", "the Zoom account id of the app"),
            "params_in": {"enum": ["query", "body"]},
        },
    }

    def check_options(self) -> None:
        """Zoom takes scopes from the app, so a profile that lists some is mistaken.

        Raises:
            ConfigError: ``scopes`` is set.
        """
        if self.scopes:
            raise ConfigError(
                "Zoom grants the scopes added to the app in the Marketplace; "
                "remove scopes from the profile",
                path="scopes",
            )

    def template_url(self) -> str:
        """``https://zoom.us/oauth/token``."""
        return "https://zoom.us/oauth/token"

    def extra_parameters(self) -> list[tuple[str, str]]:
        """``account_id``."""
        return [("account_id", str(self.options["account_id"]))]

    def build_token_request(self) -> TokenRequest:
        """The request, its parameters in the query unless ``params_in: body``."""
        request = super().build_token_request()
        # Only grant_type and account_id go there: the client authenticates with Basic.
        params_in: Literal["body", "query"] = (
            "body" if self.options.get("params_in") == "body" else "query"
        )
        return dataclasses.replace(request, params_in=params_in)
