"""The ``generic`` provider: any RFC 6749 token endpoint, configured in YAML alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.provider import Provider

__all__ = ["GenericProvider"]


class GenericProvider(Provider):
    """Client credentials against any RFC 6749 endpoint, with every standard auth method.

    The endpoint is ``token_url``, or discovered from ``issuer``; ``auth_method`` defaults
    to ``auto``. Profile keys: ``token_url`` or ``issuer``, ``scopes``, ``audience`` (Auth0
    and others), ``resource`` (RFC 8707: one or several, each sent as its own ``resource``
    parameter) and ``extra_params`` (anything else the server wants in the form).
    """

    name: ClassVar[str] = "generic"
    default_auth_method: ClassVar[str] = "auto"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "none",
        }
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["client_id"],
        "anyOf": [{"required": ["token_url"]}, {"required": ["issuer"]}],
        "properties": {
            "audience": {"type": "string", "minLength": 1},
            "resource": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                ]
            },
            "extra_params": {
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
        },
    }

    def extra_parameters(self) -> list[tuple[str, str]]:
        """``audience``, each ``resource`` and the ``extra_params``, in that order."""
        params: list[tuple[str, str]] = []
        audience = self.options.get("audience")
        if audience:
            params.append(("audience", audience))
        resource = self.options.get("resource")
        resources = [resource] if isinstance(resource, str) else list(resource or ())
        params.extend(("resource", value) for value in resources)
        params.extend(sorted((self.options.get("extra_params") or {}).items()))
        return params
