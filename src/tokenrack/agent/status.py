"""Errors as HTTP answers: one table from tokenrack's error classes to status and code.

The classes are those of the CLI's exit codes (see ``tokenrack --help``): a status tells a
client in any language what the exit code tells a shell script.
"""

from __future__ import annotations

from tokenrack.errors import (
    CacheError,
    ConfigError,
    PluginError,
    ProfileNotFoundError,
    SecretError,
    TokenEndpointUnavailableError,
    TokenRequestError,
    TokenResponseError,
)

__all__ = ["STATUS_TABLE", "status_of"]

STATUS_TABLE: tuple[tuple[type[BaseException], int, str], ...] = (
    (ProfileNotFoundError, 404, "not_found"),
    (SecretError, 500, "secret_unavailable"),  # exit code 5
    (CacheError, 500, "cache_failed"),  # exit code 5
    (ConfigError, 500, "config_error"),  # exit code 2
    (PluginError, 500, "config_error"),  # exit code 2
    (TokenRequestError, 502, "token_refused"),  # exit code 3
    (TokenEndpointUnavailableError, 503, "unavailable"),  # exit code 4
    (TokenResponseError, 503, "unavailable"),  # exit code 4
)
"""Error class, HTTP status and ``error`` code; the first class that matches wins."""


def status_of(error: BaseException) -> tuple[int, str]:
    """The HTTP status and ``error`` code of a failed token request (500 ``failed`` else)."""
    for kind, status, code in STATUS_TABLE:
        if isinstance(error, kind):
            return status, code
    return 500, "failed"
