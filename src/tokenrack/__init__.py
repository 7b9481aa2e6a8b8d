"""tokenrack: one call, ``get_token(profile)``, for OAuth 2.0 client-credentials tokens.

Only this module's ``__all__`` is public API (plugin authors use :mod:`tokenrack.plugin`).
Importing tokenrack is cheap: requests, yaml, jsonschema and stevedore are imported when a
config is first loaded or a token first fetched, never here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenrack.default import configure, get_token
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

if TYPE_CHECKING:
    from tokenrack.bearer_auth import BearerAuth
    from tokenrack.registry import Registry

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
    "configure",
    "get_token",
]

__version__ = "0.1.0"

_LAZY = {"BearerAuth": "tokenrack.bearer_auth", "Registry": "tokenrack.registry"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenrack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _install_null_handler() -> None:
    import logging

    logging.getLogger("tokenrack").addHandler(logging.NullHandler())


_install_null_handler()
