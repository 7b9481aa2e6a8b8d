"""What every vendor plugin here shares: the ``token_url`` override and schema pieces."""

from __future__ import annotations

from typing import Any

from tokenrack.plugin import Provider

__all__ = ["HOST", "URL", "VendorProvider", "string"]

# Each pattern also admits a ${VAR} reference, for editors checking the file as written.
# tokenrack validates the interpolated profile with that alternative taken out
# (tokenrack.config.schema.without_references), so a literal $${ or a variable whose value
# holds ${ must still be a plain host or URL.
HOST: dict[str, Any] = {
    "type": "string",
    "pattern": r"^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?|.*\$\{.*)$",
    "description": "a host name (with an optional :port), e.g. acme.example.com",
}
"""Schema of a host name such as ``acme.okta.com`` (no scheme, no path)."""

URL: dict[str, Any] = {
    "type": "string",
    "pattern": r"^([Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+(/[^?#\s]*)?|.*\$\{.*)$",
    "description": "an http(s) URL without query, e.g. https://sso.acme.example",
}
"""Schema of a base URL such as ``https://sso.acme.example/auth``."""


def string(pattern: str, description: str) -> dict[str, Any]:
    """Schema of a string matching ``pattern``, described in words for error messages."""
    return {"type": "string", "pattern": pattern, "description": description}


class VendorProvider(Provider):
    """A provider whose token URL comes from a template, unless the profile names one.

    The explicit ``token_url`` (a private endpoint, an egress proxy, a test server) wins
    over the template; every other quirk of the vendor still applies.
    """

    def template_url(self) -> str:
        """The token endpoint as the vendor's documentation builds it."""
        raise NotImplementedError

    def token_url(self) -> str:
        """``token_url`` when the profile sets it, else :meth:`template_url`."""
        override = self.options.get("token_url")
        return str(override) if override else self.template_url()
