"""Salesforce: client credentials at the org's My Domain.

Sources (docs/providers/salesforce.md): ``https://{MyDomain}.my.salesforce.com/services/
oauth2/token``; ``login.salesforce.com`` and ``test.salesforce.com`` answer
``invalid_grant: request not supported on this domain``; the answer has no ``expires_in``
(the session timeout policy governs), so the profile's ``default_ttl`` applies and a 401
from the API means "refresh" (``tokenrack.BearerAuth`` does it once); ``instance_url``,
the base URL for API calls, is kept in ``token.extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.plugin import ConfigError
from tokenrack_providers._vendor import HOST, VendorProvider

__all__ = ["SalesforceProvider"]

_REFUSED_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})


class SalesforceProvider(VendorProvider):
    """Client credentials against a Salesforce org (a connected or external client app).

    Profile keys: ``my_domain`` (``acme`` for ``acme.my.salesforce.com``, or the full host,
    e.g. ``acme--uat.sandbox.my.salesforce.com``).
    """

    name: ClassVar[str] = "salesforce"
    default_auth_method: ClassVar[str] = "client_secret_post"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["my_domain", "client_id"],
        "properties": {"my_domain": HOST},
    }

    @property
    def host(self) -> str:
        """The My Domain host (``{my_domain}.my.salesforce.com`` for a bare name)."""
        value = str(self.options["my_domain"]).lower()
        return value if "." in value else f"{value}.my.salesforce.com"

    def check_options(self) -> None:
        """Refuse the shared login hosts and the Lightning UI host, saying why.

        Raises:
            ConfigError: ``my_domain`` is a host where client credentials never work.
        """
        host = self.host.split(":", 1)[0]
        if host in _REFUSED_HOSTS:
            raise ConfigError(
                f"Salesforce refuses client credentials at {host} ('request not supported "
                "on this domain'); use your org's My Domain, e.g. acme.my.salesforce.com "
                "(Setup > My Domain)",
                path="my_domain",
            )
        if host.endswith(".lightning.force.com"):
            raise ConfigError(
                f"{host} is the Lightning UI host; the token endpoint is on the My Domain, "
                "e.g. acme.my.salesforce.com",
                path="my_domain",
            )

    def template_url(self) -> str:
        """``https://{my domain}/services/oauth2/token``."""
        return f"https://{self.host}/services/oauth2/token"

    def jwt_bearer_defaults(self) -> Mapping[str, Any]:
        """With ``grant: jwt_bearer``: ``aud`` login (test for a sandbox), a 3-minute ``exp``.

        Salesforce's JWT bearer flow wants ``aud`` = ``https://login.salesforce.com`` (a
        sandbox: ``https://test.salesforce.com``; an Experience Cloud site: its URL, set
        ``jwt_bearer.audience``) and an ``exp`` within 3 minutes; ``iss`` is the consumer
        key (``client_id``) and ``sub`` the username (``jwt_bearer.subject``).
        """
        sandbox = ".sandbox.my.salesforce.com" in self.host
        audience = "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"
        return {"audience": audience, "lifetime": 180}
