"""Exit codes, and the one- or two-line message a user sees for each error."""

from __future__ import annotations

from tokenrack.errors import (
    CacheError,
    ConfigError,
    InvalidClientError,
    InvalidScopeError,
    PluginError,
    ProfileNotFoundError,
    SecretError,
    TokenEndpointUnavailableError,
    TokenRequestError,
    TokenResponseError,
    UnauthorizedClientError,
)

__all__ = [
    "CACHE_OR_SECRET",
    "FAILED",
    "MEANINGS",
    "OK",
    "REJECTED",
    "UNAVAILABLE",
    "USAGE",
    "describe",
    "epilog",
    "exit_code",
]

OK = 0
FAILED = 1
USAGE = 2
REJECTED = 3
UNAVAILABLE = 4
CACHE_OR_SECRET = 5

MEANINGS = {
    OK: "ok",
    FAILED: "any other error",
    USAGE: "usage or configuration",
    REJECTED: "refused by the server",
    UNAVAILABLE: "endpoint unavailable",
    CACHE_OR_SECRET: "cache or secret source failed",
}
"""What each exit code means, as ``tokenrack --help`` lists them."""


def epilog() -> str:
    """The ``--help`` line that lists every exit code (from :data:`MEANINGS`)."""
    return "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in MEANINGS.items())


def exit_code(error: BaseException) -> int:
    """2 usage or configuration, 3 refused, 4 unavailable, 5 cache or secret, else 1."""
    if isinstance(error, (SecretError, CacheError)):
        return CACHE_OR_SECRET
    if isinstance(error, (ConfigError, PluginError)):
        return USAGE
    if isinstance(error, TokenRequestError):
        return REJECTED
    if isinstance(error, (TokenEndpointUnavailableError, TokenResponseError)):
        return UNAVAILABLE
    return FAILED


def _hint(error: BaseException) -> str | None:
    profile = getattr(error, "profile", None) or "PROFILE"
    if isinstance(error, ProfileNotFoundError):
        return "`tokenrack profiles` lists them"
    if isinstance(error, SecretError):
        return "provide the secret (the path above names the key), then try again"
    if isinstance(error, (ConfigError, PluginError)):
        return "`tokenrack check` validates the whole config"
    if isinstance(error, (InvalidClientError, UnauthorizedClientError)):
        return (
            "check the client id, secret and auth method; "
            f"`tokenrack explain {profile}` shows what is sent"
        )
    if isinstance(error, InvalidScopeError):
        return f"check the scopes the client may ask for; `tokenrack explain {profile}` shows them"
    if isinstance(error, TokenRequestError):
        return f"`tokenrack explain {profile}` shows exactly what is sent"
    if isinstance(error, TokenEndpointUnavailableError):
        return "check the network, proxy and CA bundle; `tokenrack check --fetch` tries again"
    if isinstance(error, TokenResponseError):
        return "the token URL answered with something else; check token_url or issuer"
    return None


def describe(error: BaseException) -> str:
    """What to print on stderr: the error, then what to do about it."""
    lines = [f"tokenrack: {error}"]
    hint = _hint(error)
    if hint:
        lines.append(f"tokenrack: {hint}")
    return "\n".join(lines)
