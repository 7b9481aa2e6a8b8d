"""Amazon Cognito user pools: ``https://{prefix}.auth.{region}.amazoncognito.com/oauth2/token``.

Sources (docs/providers/cognito.md): the endpoint exists once a domain is added to the
pool, either an Amazon Cognito prefix (with the pool's region) or a custom domain; scopes
are ``{resource-server-identifier}/{scope-name}``; Basic (as in AWS's example) or body
credentials; every token request is billed, so the cache matters. FIPS endpoints are
``{prefix}.auth-fips.{region}.amazoncognito.com``; AWS GovCloud (US) offers only those,
and no custom domains (docs.aws.amazon.com govcloud-us, "Amazon Cognito"). Extra body
parameters such as ``aws_client_metadata`` (JSON handed to the pre-token-generation
Lambda) go in ``extra_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import ConfigError
from tokenrack_providers._vendor import HOST, VendorProvider, string

__all__ = ["CognitoProvider"]

# Parameters the request already carries: extra_params may not replace them.
_RESERVED = ["grant_type", "client_id", "client_secret", "scope"]


class CognitoProvider(VendorProvider):
    """Client credentials against a Cognito user pool's domain.

    Profile keys: ``domain`` (a prefix such as ``acme``, with ``region``; or a custom
    domain such as ``auth.acme.example``), ``region``, ``resource_server`` (prefixed to
    each scope that does not already name it), ``fips`` (the ``auth-fips`` endpoint; implied
    in GovCloud regions), ``extra_params`` (more body parameters, e.g. ``aws_client_metadata``).
    """

    name: ClassVar[str] = "cognito"
    default_auth_method: ClassVar[str] = "client_secret_basic"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["domain", "client_id"],
        "properties": {
            "domain": HOST,
            "region": string(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", "an AWS region, e.g. eu-west-1"),
            "resource_server": string(r"^\S+$", "a resource server identifier"),
            "fips": {"type": "boolean"},
            "extra_params": {
                "type": "object",
                "propertyNames": {"not": {"enum": _RESERVED}},
                "additionalProperties": {"type": "string"},
            },
        },
    }

    @property
    def is_prefix(self) -> bool:
        """Whether ``domain`` is an Amazon Cognito prefix rather than a custom domain."""
        return "." not in str(self.options["domain"]).split(":", 1)[0]

    def check_options(self) -> None:
        """A prefix needs ``region``; a custom domain takes none.

        Raises:
            ConfigError: The domain and region do not make an endpoint.
        """
        region = self.options.get("region")
        if self.is_prefix and not region:
            raise ConfigError(
                "a Cognito domain prefix needs the pool's region (e.g. eu-west-1); "
                "or give the custom domain in full",
                path="region",
            )
        if not self.is_prefix and region:
            raise ConfigError(
                "region is only for a domain prefix; a custom domain is used as it is",
                path="region",
            )
        fips = self.options.get("fips")
        if fips and not self.is_prefix:
            raise ConfigError(
                "fips is only for a domain prefix (FIPS endpoints are "
                "{prefix}.auth-fips.{region}.amazoncognito.com); a custom domain is used as it is",
                path="fips",
            )
        if fips is False and self.govcloud:
            raise ConfigError(
                f"Cognito in {region} (AWS GovCloud) has FIPS endpoints only; remove fips: false",
                path="fips",
            )

    @property
    def govcloud(self) -> bool:
        """Whether ``region`` is an AWS GovCloud (US) region, where only FIPS endpoints exist."""
        return str(self.options.get("region", "")).startswith("us-gov-")

    def template_url(self) -> str:
        """The pool domain's ``/oauth2/token``."""
        domain = self.options["domain"]
        if self.is_prefix:
            auth = "auth-fips" if self.options.get("fips") or self.govcloud else "auth"
            return (
                f"https://{domain}.{auth}.{self.options['region']}.amazoncognito.com/oauth2/token"
            )
        return f"https://{domain}/oauth2/token"

    def extra_parameters(self) -> list[tuple[str, str]]:
        """The ``extra_params``, sorted by name."""
        return sorted((self.options.get("extra_params") or {}).items())

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes as Cognito names them: ``{resource_server}/{scope}``.

        With ``resource_server`` set, each scope that does not already start with it gets
        it as a prefix; without it, scopes are sent as written.
        """
        scopes = tuple(self.options.get("scopes") or ())
        server = self.options.get("resource_server")
        if not server:
            return scopes
        prefix = f"{str(server).rstrip('/')}/"
        return tuple(s if s.startswith(prefix) else prefix + s for s in scopes)
