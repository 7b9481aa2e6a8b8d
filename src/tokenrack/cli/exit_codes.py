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
    "TINY_DEADLINE",
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


TINY_DEADLINE = 1.0
"""A ``deadline`` (seconds) below this is more likely the cause of a timeout than the network."""


def _config_hint(error: ConfigError) -> str | None:
    """Point to ``check`` only when it would say more: the file was read and found wrong.

    No config file, an unreadable one or broken YAML: ``check`` would stop at the same line.
    """
    paths = [problem.path for problem in error.problems if problem.path]
    if not paths:
        return None
    if all(path == "agent" or path.startswith("agent.") for path in paths):
        # `tokenrack serve`'s own section: check validates it too (say so, it is not obvious).
        return "`tokenrack check` validates the whole config, its agent section included"
    return "`tokenrack check` validates the whole config"


def _unavailable_hint(error: TokenEndpointUnavailableError) -> str:
    deadline = error.deadline
    if deadline is not None and deadline < TINY_DEADLINE:
        return (
            f"the profile's deadline of {deadline:g}s is shorter than a token request "
            "usually takes; raise `deadline` in the profile (or remove it)"
        )
    return "check the network, proxy and CA bundle; `tokenrack check --fetch` tries again"


def _hint(error: BaseException) -> str | None:
    profile = getattr(error, "profile", None) or "PROFILE"
    if isinstance(error, ProfileNotFoundError):
        return "`tokenrack profiles` lists them"
    if isinstance(error, SecretError):
        return "provide the secret (the path above names the key), then try again"
    if isinstance(error, ConfigError):
        return _config_hint(error)
    if isinstance(error, PluginError):
        return "`tokenrack providers` lists the installed plugins and why one cannot load"
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
        return _unavailable_hint(error)
    if isinstance(error, TokenResponseError):
        return "the token URL answered with something else; check token_url or issuer"
    return None


def describe(error: BaseException, *, hint: bool = True) -> str:
    """What to print on stderr: the error, then (unless ``hint`` is False) what to do about it."""
    lines = [f"tokenrack: {error}"]
    advice = _hint(error) if hint else None
    if advice:
        lines.append(f"tokenrack: {advice}")
    return "\n".join(lines)
