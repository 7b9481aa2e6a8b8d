"""The stable API for plugin authors: import from here and nothing deeper.

A vendor plugin subclasses :class:`Provider`, sets a few class attributes, overrides a hook
or two, and registers the class in the ``tokenrack.providers`` entry-point group::

    [project.entry-points."tokenrack.providers"]
    acme = "tokenrack_acme:AcmeProvider"

Auth methods (``tokenrack.auth_methods``) subclass :class:`AuthMethod` (the base that
implements the :class:`ClientAuthMethod` protocol with defaults) and implement
``authenticate``. Cache backends (``tokenrack.caches``) are classes whose instances keep the
:class:`TokenCache` protocol (locks keep :class:`CacheLock`) and raise :class:`CacheError`.
Secret sources (``tokenrack.secrets``) keep :class:`SecretSource` and raise
:class:`SecretError`. Every plugin is checked against its group's contract when it loads.
An application or a test that ships no entry point passes its plugins to the registry
instead: ``Registry.from_file(path, plugins={"tokenrack.providers": {"acme": AcmeProvider}})``.

A provider that signs its own grant (an RFC 7523 §2.1 JWT-bearer assertion, say) uses
:func:`load_private_key` and :func:`sign_jwt`; they need the ``tokenrack[jwt]`` extra
(:data:`JWT_EXTRA`), which :func:`jwt_available` checks without importing it.
"""

from __future__ import annotations

from tokenrack.auth.methods import AuthMethod, ClientAuthMethod, ClientCredentials, rfc6749_encode
from tokenrack.auth.signing import (
    JWT_EXTRA,
    KeyMaterialError,
    SigningKey,
    jwt_available,
    load_private_key,
    sign_jwt,
)
from tokenrack.cache.backend import CacheLock, TokenCache
from tokenrack.errors import (
    CacheError,
    ConfigError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    SecretError,
    TokenEndpointUnavailableError,
    TokenError,
    TokenRequestError,
    TokenResponseError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
    error_class_for,
)
from tokenrack.oauth.message import FormValue, HttpResponse, TokenRequest
from tokenrack.oauth.provider import Provider, TokenFlow
from tokenrack.oauth.response import (
    ResponseFields,
    decode_body,
    jwt_claims,
    parse_token_response,
    raise_for_error,
)
from tokenrack.secret.sources import SecretSource
from tokenrack.secret.value import Secret
from tokenrack.token import Token

__all__ = [
    "AuthMethod",
    "CacheError",
    "CacheLock",
    "ClientAuthMethod",
    "ClientCredentials",
    "ConfigError",
    "FormValue",
    "HttpResponse",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "JWT_EXTRA",
    "KeyMaterialError",
    "Provider",
    "ResponseFields",
    "Secret",
    "SecretError",
    "SecretSource",
    "SigningKey",
    "Token",
    "TokenCache",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenFlow",
    "TokenRequest",
    "TokenRequestError",
    "TokenResponseError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "decode_body",
    "error_class_for",
    "jwt_available",
    "jwt_claims",
    "load_private_key",
    "parse_token_response",
    "raise_for_error",
    "rfc6749_encode",
    "sign_jwt",
]
