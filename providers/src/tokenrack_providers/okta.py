"""Okta: the org authorization server and custom authorization servers.

Sources (docs/providers/okta.md): ``/oauth2/v1/token`` on the org server,
``/oauth2/{id}/v1/token`` on a custom one (``default`` is the built-in alias);
``client_secret_basic`` is Okta's default; a custom server needs at least one scope;
``okta.*`` management scopes are issued by the org server to clients that authenticate
with ``private_key_jwt`` only. Rate-limited answers carry ``x-rate-limit-reset``, which
the core's retry policy honours like ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import ConfigError
from tokenrack_providers._vendor import HOST, VendorProvider, string

__all__ = ["ORG_SERVER", "OktaProvider"]

ORG_SERVER = "org"
"""The ``authorization_server`` value that means Okta's org authorization server."""


class OktaProvider(VendorProvider):
    """Client credentials against an Okta authorization server.

    Profile keys: ``domain`` (e.g. ``acme.okta.com``), ``authorization_server``
    (``default``, a custom server's id, or ``org``), and ``scopes`` (required).
    """

    name: ClassVar[str] = "okta"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["domain", "client_id", "scopes"],
        "properties": {
            "domain": HOST,
            "authorization_server": string(
                r"^[A-Za-z0-9]+$", "default, a custom authorization server's id, or org"
            ),
            "scopes": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
            },
        },
    }

    @property
    def authorization_server(self) -> str:
        """The server's id, ``default``, or ``org``."""
        return str(self.options.get("authorization_server", "default"))

    def check_options(self) -> None:
        """``okta.*`` scopes need the org server and ``private_key_jwt``.

        Raises:
            ConfigError: An ``okta.*`` scope is asked for in a way Okta always refuses.
        """
        management = [s for s in self.scopes if s.startswith("okta.")]
        if not management:
            return
        if self.auth_method != "private_key_jwt":
            raise ConfigError(
                f"Okta issues okta.* scopes ({', '.join(management)}) only to clients that "
                f"authenticate with private_key_jwt, not {self.auth_method}; set "
                "auth_method: private_key_jwt and register the client's public key in Okta",
                path="auth_method",
            )
        if self.authorization_server != ORG_SERVER:
            raise ConfigError(
                "okta.* scopes come from the org authorization server; "
                "set authorization_server: org",
                path="authorization_server",
            )

    def template_url(self) -> str:
        """``https://{domain}/oauth2/v1/token`` (org) or ``…/oauth2/{server}/v1/token``."""
        domain = self.options["domain"]
        server = self.authorization_server
        if server == ORG_SERVER:
            return f"https://{domain}/oauth2/v1/token"
        return f"https://{domain}/oauth2/{server}/v1/token"
