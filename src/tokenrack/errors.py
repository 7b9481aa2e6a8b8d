"""Every error tokenrack raises, all under :class:`TokenrackError`.

The tree::

    TokenrackError
    ├── ConfigError                 bad configuration: names the file, profile and JSON path
    │   ├── ProfileNotFoundError    no such profile (lists the known ones, closest first)
    │   └── SecretError             a secret could not be resolved from its source
    ├── CacheError                  a shared token cache failed or is unsafe (callers of
    │                               get_token never see it: tokenrack fetches on its own)
    ├── PluginError                 a plugin could not be used
    │   ├── ProviderNotFoundError   no provider of that name is installed (lists the installed)
    │   └── PluginLoadError         a plugin failed to import (names entry point and distribution)
    └── TokenError                  a token could not be obtained
        ├── TokenRequestError       the server refused (RFC 6749 §5.2 fields)
        │   ├── InvalidRequestError, InvalidClientError, InvalidGrantError,
        │   ├── UnauthorizedClientError, UnsupportedGrantTypeError, InvalidScopeError
        ├── TokenEndpointUnavailableError   no usable answer after every retry, or in time
        └── TokenResponseError      the server answered with something that is not a token

No message or repr built here ever holds a secret or an access token: callers pass only
names, paths, statuses and text the server sent back about the error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = [
    "CacheError",
    "ConfigError",
    "ConfigProblem",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "PluginError",
    "PluginLoadError",
    "ProfileNotFoundError",
    "ProviderNotFoundError",
    "SecretError",
    "TokenEndpointUnavailableError",
    "TokenError",
    "TokenRequestError",
    "TokenResponseError",
    "TokenrackError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "error_class_for",
    "scrub_error",
    "without_frames",
]


class TokenrackError(Exception):
    """Base of every error tokenrack raises."""


class ConfigProblem:
    """One problem found in a configuration: where it is and what was expected.

    Attributes:
        path: The JSON path of the offending value, e.g. ``profiles.billing.scopes``.
        message: What was expected and what was found (never a secret value).
    """

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfigProblem):
            return NotImplemented
        return (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class ConfigError(TokenrackError):
    """The configuration is invalid.

    Attributes:
        file: The configuration file (or ``<dict>``) the problem is in.
        profile: The profile concerned, when there is one.
        path: The JSON path of the first problem.
        problems: Every problem found, in document order.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        profile: str | None = None,
        path: str = "",
        problems: Sequence[ConfigProblem] = (),
    ) -> None:
        self.file = file
        self.profile = profile
        self.problems = tuple(problems) or (ConfigProblem(path, message),)
        self.path = path or self.problems[0].path
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        if len(self.problems) == 1:
            return prefix + str(self.problems[0])
        lines = [f"{prefix}{len(self.problems)} problems:"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


class ProfileNotFoundError(ConfigError):
    """No profile of that name exists.

    Attributes:
        known: The profiles that do exist, closest match first.
        suggestion: The one close enough to be a likely typo, if any.
    """

    def __init__(
        self,
        profile: str,
        *,
        known: Sequence[str],
        suggestion: str | None = None,
        file: str | None = None,
    ) -> None:
        self.known = tuple(known)
        self.suggestion = suggestion
        listing = ", ".join(self.known) if self.known else "none are defined"
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        super().__init__(
            f"no profile named {profile!r}{hint}; known profiles: {listing}",
            file=file,
            profile=profile,
            path=f"profiles.{profile}",
        )


class SecretError(ConfigError):
    """A secret could not be resolved from its source (never shows the secret itself)."""


class CacheError(TokenrackError):
    """A shared token cache cannot be used: unreachable, too slow, or unsafe on disk.

    ``get_token`` never raises it: a cache failure makes tokenrack fetch on its own and log
    it. It reaches callers of the cache administration functions (``tokenrack cache``).

    Attributes:
        backend: The cache backend's name (``file``, ``redis``, …).
    """

    def __init__(self, message: str, *, backend: str) -> None:
        self.backend = backend
        super().__init__(message)


class PluginError(TokenrackError):
    """A plugin could not be found or used.

    Attributes:
        group: The entry-point group, e.g. ``tokenrack.providers``.
        name: The plugin name asked for.
    """

    def __init__(self, message: str, *, group: str, name: str) -> None:
        self.group = group
        self.name = name
        super().__init__(message)


_INSTALL_HINT = "install the package that provides it, e.g. pip install 'tokenrack[vendors]'"


class ProviderNotFoundError(PluginError):
    """No provider of that name is installed.

    Attributes:
        installed: The provider names that are installed.
        profile: The profile that names it, when known.
        file: The config file that names it, when known.
        suggestion: An installed name close enough to be a likely typo, if any.
        hint: What to install, when installing something would help (None: nothing would).
        line: The line of the file the name is written on (from 1), when known.
        column: Its column (from 1), when known.
        origin: The section the name was written in when the profile inherits it
            (``defaults``, ``profiles.base``); None when written in the profile itself.
    """

    def __init__(
        self,
        name: str,
        *,
        installed: Sequence[str],
        profile: str | None = None,
        file: str | None = None,
        suggestion: str | None = None,
        hint: str | None = _INSTALL_HINT,
        line: int | None = None,
        column: int | None = None,
        origin: str | None = None,
    ) -> None:
        self.installed = tuple(installed)
        self.profile = profile
        self.file = file
        self.suggestion = suggestion
        self.hint = hint
        self.line = line
        self.column = column
        self.origin = origin
        where = f"{file}: " if file else ""
        if profile:
            where += f"profiles.{profile}.provider: "
        close = f" (did you mean {suggestion!r}?)" if suggestion else ""
        if origin:
            close += f" (set in {origin})"
        if line is not None and column is not None:
            close += f" [line {line}, column {column}]"
        listing = ", ".join(self.installed) or "none"
        text = (
            f"{where}no provider named {name!r} is installed{close}; installed providers: {listing}"
        )
        super().__init__(
            f"{text}; {hint}" if hint else text,
            group="tokenrack.providers",
            name=name,
        )


class PluginLoadError(PluginError):
    """A plugin was found but could not be loaded.

    Attributes:
        distribution: The distribution (package) that declares the entry point.
    """

    def __init__(self, message: str, *, group: str, name: str, distribution: str | None) -> None:
        self.distribution = distribution
        super().__init__(message, group=group, name=name)


class TokenError(TokenrackError):
    """A token could not be obtained for a profile.

    Attributes:
        profile: The profile the token was for; the core sets it before the error reaches
            a caller, and the message then starts with it.
    """

    profile: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        return f"profile {self.profile!r}: {text}" if self.profile else text


class TokenRequestError(TokenError):
    """The token endpoint refused the request (RFC 6749 §5.2).

    Attributes:
        status: The HTTP status of the answer.
        error: The RFC 6749 ``error`` code, e.g. ``invalid_client``.
        error_description: The server's human-readable description, if any.
        error_uri: The server's link to more information, if any.
        details: Other fields the vendor put in its error (e.g. Entra's ``trace_id``).
        earlier: A refusal of an earlier try with another auth method (``auth_method:
            auto``), when there was one.
    """

    def __init__(
        self,
        *,
        status: int,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.details = dict(details or {})
        self.earlier: TokenRequestError | None = None
        super().__init__(self._render())

    def after(self, earlier: TokenRequestError, *, method: str) -> TokenRequestError:
        """Record that ``earlier`` refused a first try (with ``method``) before this one.

        The earlier refusal stays reachable as ``earlier`` and ``__cause__``, and the
        message says it, so the first error is not lost when a fallback also fails.
        """
        self.earlier = earlier
        self.__cause__ = earlier
        self.args = (f"{self.args[0]}; before that, {method} was refused: {earlier.args[0]}",)
        return self

    def _render(self) -> str:
        text = f"token endpoint refused the request: {self.error} (HTTP {self.status})"
        if self.error_description:
            text += f": {self.error_description}"
        if self.error_uri:
            text += f" [{self.error_uri}]"
        if self.details:
            text += " " + " ".join(f"{key}={value}" for key, value in sorted(self.details.items()))
        return text


class InvalidRequestError(TokenRequestError):
    """``invalid_request``: a parameter is missing, repeated or malformed."""


class InvalidClientError(TokenRequestError):
    """``invalid_client``: client authentication failed (wrong id, secret or method)."""


class InvalidGrantError(TokenRequestError):
    """``invalid_grant``: the grant or assertion was refused."""


class UnauthorizedClientError(TokenRequestError):
    """``unauthorized_client``: this client may not use this grant type."""


class UnsupportedGrantTypeError(TokenRequestError):
    """``unsupported_grant_type``: the server does not support this grant type."""


class InvalidScopeError(TokenRequestError):
    """``invalid_scope``: a requested scope is unknown, malformed or not allowed."""


_ERROR_CLASSES: dict[str, type[TokenRequestError]] = {
    "invalid_request": InvalidRequestError,
    "invalid_client": InvalidClientError,
    "invalid_grant": InvalidGrantError,
    "unauthorized_client": UnauthorizedClientError,
    "unsupported_grant_type": UnsupportedGrantTypeError,
    "invalid_scope": InvalidScopeError,
}


def error_class_for(error: str) -> type[TokenRequestError]:
    """Return the :class:`TokenRequestError` subclass for an RFC 6749 ``error`` code."""
    return _ERROR_CLASSES.get(error, TokenRequestError)


class TokenEndpointUnavailableError(TokenError):
    """No usable answer from the token endpoint after every retry, or before the deadline.

    Attributes:
        attempts: How many requests were made.
        last_status: The HTTP status of the last answer, or None when none came.
        reason: What went wrong on the last attempt.
        deadline: The fetch's deadline in seconds when it ran out before a usable answer
            (the reason then starts ``deadline of …s exceeded``); None otherwise.
    """

    def __init__(
        self,
        reason: str,
        *,
        attempts: int,
        last_status: int | None = None,
        url: str | None = None,
        deadline: float | None = None,
    ) -> None:
        self.reason = reason
        self.attempts = attempts
        self.last_status = last_status
        self.url = url
        self.deadline = deadline
        target = f" {url}" if url else ""
        plural = "s" if attempts != 1 else ""
        super().__init__(
            f"token endpoint{target} unavailable after {attempts} attempt{plural}: {reason}"
        )


class TokenResponseError(TokenError):
    """The token endpoint answered with something that is not a usable token.

    Attributes:
        status: The HTTP status of the answer, when there was one.
        content_type: The answer's content type, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        super().__init__(message)


def scrub_error(error: BaseException, secrets: Sequence[str] | Callable[[str], str]) -> None:
    """Mask every echo of the request's secrets in ``error``'s text.

    Servers sometimes echo what they were sent; this keeps an echoed secret out of the
    message, the attributes and the details (values and keys) of an error before it
    reaches a caller.

    Args:
        error: The error to clean in place.
        secrets: A function that masks every echo it knows of (the core passes a
            :class:`~tokenrack.secret.scrub.Scrubber`, which also knows encoded forms), or
            plain secret values to replace where they appear verbatim.
    """
    if callable(secrets):
        clean = secrets
    else:
        values = [s for s in secrets if s]
        if not values:
            return

        def clean(text: str) -> str:
            for value in values:
                text = text.replace(value, "***")
            return text

    for name, value in list(vars(error).items()):
        if isinstance(value, str):
            setattr(error, name, clean(value))
        elif isinstance(value, dict):
            setattr(
                error,
                name,
                {
                    clean(k) if isinstance(k, str) else k: clean(v) if isinstance(v, str) else v
                    for k, v in value.items()
                },
            )
    error.args = tuple(clean(a) if isinstance(a, str) else a for a in error.args)


E = TypeVar("E", bound=BaseException)


def without_frames(error: E) -> E:
    """Return ``error`` stripped of its traceback and of the errors chained to it.

    For an error that is wrapped and re-raised: the frames it was raised through, and
    those of anything chained to it, may hold secrets or key material as locals, and any
    tool that records a traceback's locals would send them on. The wrapper keeps the
    message, which never quotes them.
    """
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error
