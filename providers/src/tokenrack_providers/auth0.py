"""Auth0: ``https://{domain}/oauth/token``, with ``audience`` required.

Sources (docs/providers/auth0.md): client credentials need the API identifier as
``audience`` (the tenant's Default Audience does not apply to this grant); with the
Resource Parameter Compatibility Profile, RFC 8707 ``resource`` may stand in for it;
``organization`` asks for an M2M token for an organization; Auth0's own examples send
the credentials in the body. Auth0 answers bad client credentials with 401
``access_denied`` (``Unauthorized``), not ``invalid_client``: it is raised as
:class:`~tokenrack.errors.InvalidClientError`, so the refusal cooldown applies and the
secret is read again (auth0/node-auth0 #682, auth0/laravel-auth0 #42). A
``private_key_jwt`` assertion's ``aud`` is the tenant, ``https://{domain}/``, as Auth0's
private-key-JWT guide and auth0-python say (not the token URL): the provider's ``preset``
sets ``assertion_audience`` to it unless the profile does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import (
    ConfigError,
    HttpResponse,
    InvalidClientError,
    Token,
    TokenRequestError,
)
from tokenrack_providers._vendor import HOST, VendorProvider

__all__ = ["Auth0Provider"]


class Auth0Provider(VendorProvider):
    """Client credentials against an Auth0 tenant (or its custom domain).

    Profile keys: ``domain`` (e.g. ``acme.eu.auth0.com``), ``audience`` (or ``resource``),
    ``organization``.
    """

    name: ClassVar[str] = "auth0"
    default_auth_method: ClassVar[str] = "client_secret_post"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"client_secret_post", "client_secret_basic", "private_key_jwt"}
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["domain", "client_id"],
        "properties": {
            "domain": HOST,
            "audience": {"type": "string", "minLength": 1},
            "resource": {"type": "string", "minLength": 1},
            "organization": {"type": "string", "minLength": 1},
        },
    }

    @classmethod
    def preset(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> Mapping[str, Any]:
        """``assertion_audience: https://{domain}/`` for a ``private_key_jwt`` profile.

        Placed under the profile's own keys (an explicit ``assertion_audience`` wins).
        """
        domain = options.get("domain")
        method = options.get("auth_method")
        signs = method == "private_key_jwt" or (
            method in (None, "auto") and "private_key" in options
        )
        if not signs or not isinstance(domain, str) or not domain:
            return {}
        return {"assertion_audience": f"https://{domain}/"}

    def check_options(self) -> None:
        """Exactly one of ``audience`` and ``resource``.

        Raises:
            ConfigError: Neither is set (Auth0 would refuse every request), or both are.
        """
        audience, resource = self.options.get("audience"), self.options.get("resource")
        if not audience and not resource:
            raise ConfigError(
                "Auth0 needs audience (the API identifier) for client credentials; the "
                "tenant's Default Audience does not apply to this grant",
                path="audience",
            )
        if audience and resource:
            raise ConfigError(
                "set audience or resource, not both (Auth0 would use audience and ignore resource)",
                path="resource",
            )

    def template_url(self) -> str:
        """``https://{domain}/oauth/token``."""
        return f"https://{self.options['domain']}/oauth/token"

    def extra_parameters(self) -> list[tuple[str, str]]:
        """``audience`` (or ``resource``), then ``organization``."""
        params = [
            (key, str(self.options[key]))
            for key in ("audience", "resource", "organization")
            if self.options.get(key)
        ]
        return params

    def parse_token_response(self, response: HttpResponse) -> Token:
        """The core's parsing, with 401 ``access_denied`` raised as a refusal of the client.

        Raises:
            InvalidClientError: Auth0 did not accept the client's credentials.
            TokenRequestError: Any other refusal (a 403 ``access_denied`` names a missing
                audience or client grant, which another secret would not fix).
            TokenResponseError: The answer is not a usable token.
        """
        try:
            return super().parse_token_response(response)
        except TokenRequestError as error:
            if error.status != 401 or error.error != "access_denied":
                raise
            raise InvalidClientError(
                status=error.status,
                error=error.error,
                error_description=error.error_description,
                error_uri=error.error_uri,
                details=error.details,
            ) from None
