"""tokenrack: one call, ``get_token(profile)``, for OAuth 2.0 client-credentials tokens.

Only this module's ``__all__`` is public API (plugin authors use :mod:`tokenrack.plugin`);
every module inside a subpackage (``tokenrack.core``, ``tokenrack.oauth``, …) is internal,
as docs/architecture.md says.
Importing tokenrack costs next to nothing: every name is imported when first used, so a
service pays only for what it touches, and ``tokenrack token`` on a warm cache loads none
of requests, yaml, jsonschema or stevedore.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from tokenrack.core.bearer_auth import BearerAuth
    from tokenrack.core.default import aget_token, configure, default_registry, get_token
    from tokenrack.core.registry import Registry
    from tokenrack.errors import (
        CacheError,
        ConfigError,
        InvalidClientError,
        InvalidGrantError,
        InvalidRequestError,
        InvalidScopeError,
        PluginError,
        PluginLoadError,
        ProfileNotFoundError,
        ProviderNotFoundError,
        SecretError,
        TokenEndpointUnavailableError,
        TokenError,
        TokenrackError,
        TokenRequestError,
        TokenResponseError,
        UnauthorizedClientError,
        UnsupportedGrantTypeError,
    )
    from tokenrack.token import Token

__all__ = [
    "BearerAuth",
    "CacheError",
    "ConfigError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "PluginError",
    "PluginLoadError",
    "ProfileNotFoundError",
    "ProviderNotFoundError",
    "Registry",
    "SecretError",
    "Token",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenRequestError",
    "TokenResponseError",
    "TokenrackError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "__version__",
    "aget_token",
    "configure",
    "default_registry",
    "get_token",
]

__version__ = "0.1.0"

_HOMES = {
    "BearerAuth": "tokenrack.core.bearer_auth",
    "Registry": "tokenrack.core.registry",
    "Token": "tokenrack.token",
    "aget_token": "tokenrack.core.default",
    "configure": "tokenrack.core.default",
    "default_registry": "tokenrack.core.default",
    "get_token": "tokenrack.core.default",
}


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        import importlib

        value = getattr(importlib.import_module(_HOMES.get(name, "tokenrack.errors")), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tokenrack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
