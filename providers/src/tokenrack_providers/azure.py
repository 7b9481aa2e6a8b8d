"""Microsoft Entra ID (Azure AD), its sovereign clouds, the v1 endpoint and Azure AD B2C.

Sources (docs/providers/azure.md has the table): the v2 endpoint takes one
``{resource}/.default`` scope per request; the legacy v1 endpoint takes ``resource=`` and
answers with string ``expires_in``/``expires_on``; MSAL sends the secret in the body;
errors carry ``error_codes``, ``trace_id`` and ``correlation_id`` (kept in the exception's
``details``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import ConfigError
from tokenrack_providers._vendor import URL, VendorProvider, string

__all__ = ["AUTHORITY_HOST_VARIABLE", "CLOUDS", "WORKLOAD_VARIABLES", "AzureProvider"]

CLOUDS: Mapping[str, str] = {
    "public": "https://login.microsoftonline.com",
    "usgov": "https://login.microsoftonline.us",
    "china": "https://login.chinacloudapi.cn",
}
"""The authority host of each national cloud (as MSAL's ``authority.py`` lists them)."""

WORKLOAD_VARIABLES: Mapping[str, str] = {
    "client_id": "AZURE_CLIENT_ID",
    "tenant": "AZURE_TENANT_ID",
    "client_assertion": "AZURE_FEDERATED_TOKEN_FILE",
}
"""The profile key each workload identity variable stands for (azure-identity's names)."""
AUTHORITY_HOST_VARIABLE = "AZURE_AUTHORITY_HOST"

_RESOURCE = string(r"^\S+$", "an application ID URI, e.g. https://graph.microsoft.com")


def _refused(message: str, *, empty_ok: bool = False) -> dict[str, Any]:
    """A key's schema when another key excludes it; the validator reports ``message``."""
    return {"not": {"minItems": 1} if empty_ok else {}, "description": message}


class AzureProvider(VendorProvider):
    """Client credentials against Microsoft Entra ID.

    Profile keys: ``tenant`` (id or verified domain), ``cloud`` (``public``, ``usgov``,
    ``china``) or ``authority_host``, ``api_version`` (2, or 1 for the legacy endpoint),
    ``resource`` (rewritten to ``{resource}/.default`` on v2; sent as ``resource=`` on
    v1), ``b2c_tenant`` and ``policy`` for Azure AD B2C.
    """

    name: ClassVar[str] = "azure"
    default_auth_method: ClassVar[str] = "client_secret_post"
    # private_key_jwt is Entra's certificate credential; it needs the auth method that
    # signs assertions (with an x5t#S256 header) to be installed. client_assertion is a
    # federated credential (workload identity): a token another issuer signed.
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"client_secret_post", "client_secret_basic", "private_key_jwt", "client_assertion"}
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["client_id"],
        "properties": {
            "tenant": string(
                r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
                "a tenant id (GUID) or verified domain, e.g. contoso.onmicrosoft.com",
            ),
            "cloud": {"enum": sorted(CLOUDS)},
            "authority_host": URL,
            "api_version": {"enum": [1, 2]},
            "resource": {
                "oneOf": [
                    _RESOURCE,
                    {"type": "array", "items": _RESOURCE, "minItems": 1},
                ]
            },
            "b2c_tenant": string(r"^[A-Za-z0-9-]+$", "a B2C tenant name, e.g. contosob2c"),
            "policy": string(r"^[A-Za-z0-9_.-]+$", "a B2C user flow, e.g. B2C_1_client"),
            "workload_identity": {"type": "boolean"},
        },
        "allOf": [
            {"if": {"not": {"required": ["b2c_tenant"]}}, "then": {"required": ["tenant"]}},
            {"if": {"required": ["b2c_tenant"]}, "then": {"required": ["policy"]}},
        ],
        # Keys that exclude each other, each said at the key to remove. dependentSchemas
        # rather than if/required: the editor schema drops every "required", which would
        # turn these into "never allowed". A key that may not be set is {"not": {}} (or,
        # for scopes, not a non-empty list: an empty one asks for nothing), and the
        # validator reports the description.
        "dependentSchemas": {
            "cloud": {
                "properties": {"authority_host": _refused("set cloud or authority_host, not both")}
            },
            "b2c_tenant": {
                "properties": {
                    "api_version": {
                        "not": {"const": 1},
                        "description": "B2C has no v1 endpoint; remove api_version",
                    }
                }
            },
            "api_version": {
                "if": {"properties": {"api_version": {"const": 1}}},
                "then": {
                    "properties": {
                        "scopes": _refused(
                            "the v1 endpoint takes resource, not scopes; remove scopes or use v2",
                            empty_ok=True,
                        )
                    }
                },
            },
            "resource": {
                # v2 (api_version absent or 2) rewrites resource into the scope parameter.
                "if": {"properties": {"api_version": {"const": 2}}},
                "then": {
                    "properties": {
                        "scopes": _refused(
                            "set resource (sent as {resource}/.default) or scopes, not both",
                            empty_ok=True,
                        )
                    }
                },
            },
        },
    }

    # -- the workload identity preset ----------------------------------------------------

    @classmethod
    def preset(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> Mapping[str, Any]:
        """``workload_identity: true``: what the AKS workload identity webhook injects.

        As azure-identity's ``WorkloadIdentityCredential`` reads them (keys the profile
        sets win): ``AZURE_CLIENT_ID`` (``client_id``), ``AZURE_TENANT_ID`` (``tenant``),
        ``AZURE_FEDERATED_TOKEN_FILE`` (``client_assertion: {file: …}``, read again at
        every fetch) and ``AZURE_AUTHORITY_HOST`` (``authority_host``, for sovereign
        clouds), with ``auth_method: client_assertion``.

        Raises:
            ConfigError: A variable the profile does not replace is not set.
        """
        if options.get("workload_identity") is not True:
            return {}
        added: dict[str, Any] = {"auth_method": "client_assertion"}
        missing: list[str] = []
        for key, variable in WORKLOAD_VARIABLES.items():
            value = environ.get(variable)
            if key in options:
                continue
            if not value:
                missing.append(variable)
            elif key == "client_assertion":
                added[key] = {"file": value}
            else:
                added[key] = value
        host = environ.get(AUTHORITY_HOST_VARIABLE)
        if host and "authority_host" not in options and "cloud" not in options:
            added["authority_host"] = (host if "://" in host else f"https://{host}").rstrip("/")
        if missing:
            raise ConfigError(
                f"workload_identity: true reads {' and '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not set: run in a pod the Azure "
                "workload identity webhook mutates (label azure.workload.identity/use: "
                '"true"), or set client_id, tenant and client_assertion in the profile',
                path="workload_identity",
            )
        return added

    # -- what the profile says ---------------------------------------------------------

    @property
    def api_version(self) -> int:
        """1 for the legacy endpoint, else 2."""
        return int(self.options.get("api_version", 2))

    @property
    def resource(self) -> str | None:
        """The one resource asked for, if any."""
        value = self.options.get("resource")
        if isinstance(value, list):
            return str(value[0]) if value else None
        return str(value) if value else None

    def authority(self) -> str:
        """``authority_host``, else the host of ``cloud`` (public by default)."""
        explicit = self.options.get("authority_host")
        if explicit:
            return str(explicit).rstrip("/")
        return CLOUDS[str(self.options.get("cloud", "public"))]

    def check_options(self) -> None:
        """One resource per token; v1 needs a resource; v2 needs a resource or scopes.

        The keys that exclude each other (cloud and authority_host, v1 and scopes or B2C,
        resource and scopes on v2) are refused by ``options_schema``.

        Raises:
            ConfigError: The profile asks for something Entra cannot issue in one token.
        """
        options = self.options
        resource = options.get("resource")
        if isinstance(resource, list) and len(resource) > 1:
            raise ConfigError(
                f"Entra issues a token for one resource per request, and {len(resource)} are "
                "listed; define one profile per resource (extends keeps them short)",
                path="resource",
            )
        if self.api_version == 1 and not resource:
            raise ConfigError("the v1 endpoint needs resource", path="resource")
        if self.api_version != 1 and not resource and not options.get("scopes"):
            raise ConfigError(
                "Entra needs a resource for client credentials: set resource "
                "(e.g. https://graph.microsoft.com) or scopes "
                "([https://graph.microsoft.com/.default])",
                path="resource",
            )
        if self.auth_method == "private_key_jwt" and not options.get("certificate"):
            raise ConfigError(
                "Entra identifies a certificate credential by its thumbprint (x5t#S256): "
                "set certificate to the PEM of the certificate uploaded to the app",
                path="certificate",
            )

    # -- hooks -------------------------------------------------------------------------

    def template_url(self) -> str:
        """The v2 (or v1, or B2C) token endpoint of the tenant in its cloud."""
        b2c = self.options.get("b2c_tenant")
        if b2c:
            host = self.options.get("authority_host")
            base = str(host).rstrip("/") if host else f"https://{b2c}.b2clogin.com"
            return f"{base}/{b2c}.onmicrosoft.com/{self.options['policy']}/oauth2/v2.0/token"
        path = "oauth2/token" if self.api_version == 1 else "oauth2/v2.0/token"
        return f"{self.authority()}/{self.options['tenant']}/{path}"

    def scope_parameter(self) -> str | None:
        """v2: ``{resource}/.default``, or the scopes as written; v1: none.

        The resource is kept as written: one whose application ID URI ends in ``/`` (Azure
        SQL's ``https://database.windows.net/``, ARM's ``https://management.core.windows.net/``)
        needs ``…//.default``, or Entra issues the token for another audience.
        """
        if self.api_version == 1:
            return None
        resource = self.resource
        if resource:
            return f"{resource}/.default"
        return super().scope_parameter()

    def extra_parameters(self) -> list[tuple[str, str]]:
        """v1: ``resource``."""
        resource = self.resource
        return [("resource", resource)] if self.api_version == 1 and resource else []
