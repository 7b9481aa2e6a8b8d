"""Keycloak: ``{base_url}[/auth]/realms/{realm}/protocol/openid-connect/token``.

Sources (docs/providers/keycloak.md): Keycloak 17 and later dropped the ``/auth`` prefix
that the WildFly distribution (16 and earlier) had; the client authenticates with Basic
by default. Keycloak 20 and later form-decode the Basic credentials as RFC 6749 §2.3.1
says (keycloak PR #14347), so the core's ``rfc6749`` Basic encoding is the one that works
with any secret there; 19 and earlier do not (keycloak #11908, #14323), and need
``basic_encoding: raw`` for a secret holding characters that encoding changes. The
default stays ``rfc6749`` with ``legacy_auth_path`` too: ``/auth`` is also served by newer
Keycloaks started with ``--http-relative-path=/auth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from tokenrack_providers._vendor import URL, VendorProvider, string

__all__ = ["KeycloakProvider"]


class KeycloakProvider(VendorProvider):
    """Client credentials against a Keycloak realm (a service-account client).

    Profile keys: ``base_url`` (e.g. ``https://sso.acme.example``), ``realm``,
    ``legacy_auth_path`` (true for Keycloak 16 and earlier, which serve under ``/auth``).
    """

    name: ClassVar[str] = "keycloak"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "client_assertion",
        }
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["base_url", "realm", "client_id"],
        "properties": {
            "base_url": URL,
            "realm": string(r"^[^\s/?#]+$", "a realm name, e.g. acme"),
            "legacy_auth_path": {"type": "boolean"},
        },
    }

    def template_url(self) -> str:
        """The realm's OpenID Connect token endpoint."""
        base = str(self.options["base_url"]).rstrip("/")
        prefix = "/auth" if self.options.get("legacy_auth_path") else ""
        realm = quote(str(self.options["realm"]), safe="")
        return f"{base}{prefix}/realms/{realm}/protocol/openid-connect/token"
