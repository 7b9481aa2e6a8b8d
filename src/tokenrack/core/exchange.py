"""``grant: token_exchange`` (RFC 8693): where a profile's subject and actor tokens come from.

A token source is either a secret source (``{file: …}``, ``{env: …}``, ``{command: …}``, any
installed one), read again at every fetch because such tokens rotate underneath (a
projected service-account token, a CI job's OIDC token), or ``{profile: name}``: another
profile's token through the same registry, cached and refreshed as that profile's own.

Credential binding (docs/security.md): a subject token is a credential, so the exchanged
token's cache key carries the source's identity: the source's kind and argument (a path, a
variable's name), never the rotating value, so one rotation does not split the cache; for
``{profile: name}`` the other profile's cache key, which carries that profile's own
credential fingerprint. A cycle of ``{profile:}`` references is a
:class:`~tokenrack.errors.ConfigError`, found when the profile is built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tokenrack.errors import ConfigError, InvalidGrantError, TokenError, TokenrackError
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.provider import Provider, TokenFlow
from tokenrack.secret.sources import anchored_path
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.token import Token

if TYPE_CHECKING:
    from tokenrack.oauth.token_exchange import ExchangeTokens

__all__ = [
    "EXCHANGE_KEYS",
    "GRANT_KEY",
    "ProfileTokens",
    "TokenExchange",
    "TokenSource",
    "token_exchange_for",
]

GRANT_KEY = "grant"
"""The profile key that names the grant (``client_credentials``, the default)."""

EXCHANGE_KEYS = (
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
)
"""The profile keys of ``grant: token_exchange`` (the provider sends scope/audience/resource)."""

PROFILE_SOURCE = "profile"
"""``{profile: name}``: another profile's token."""


class ProfileTokens(Protocol):
    """What the registry lends a token exchange: other profiles' tokens and cache keys."""

    def get_token(self, profile: str, *, force_refresh: bool = False) -> Token:
        """A valid token for ``profile`` (cached and refreshed as usual; now if forced)."""

    def cache_key_of(self, profile: str) -> str:
        """``profile``'s cache key (its runtime is built if need be)."""

    def options_of(self, profile: str) -> Mapping[str, Any] | None:
        """``profile``'s options as loaded, or None when there is no such profile."""


@dataclass(frozen=True, slots=True)
class TokenSource:
    """Where one token of the exchange comes from.

    Attributes:
        key: The profile key it is written under (``subject_token``, ``actor_token``).
        reference: A secret source reference, or None for ``{profile:}``.
        profile: The other profile's name, for ``{profile: name}``.
    """

    key: str
    reference: SecretRef | None = None
    profile: str | None = None

    @classmethod
    def parse(cls, key: str, value: Any) -> TokenSource:
        """The source written as ``value`` (the schema allows ``{name: argument}`` only)."""
        ((name, argument),) = dict(value).items()
        if name == PROFILE_SOURCE:
            return cls(key, profile=str(argument))
        return cls(key, reference=SecretRef(name, argument))

    def identity(self, cache_key_of: Callable[[str], str], directory: str) -> str:
        """What the cache key holds for this source: its kind and argument, never a token.

        A relative ``{file:}`` path is keyed as the absolute path it is read from
        (``directory``: the config file's), so two configs in different directories that
        both say ``{file: ./token}`` never share an exchanged token.
        """
        if self.profile is not None:
            return f"profile:{self.profile}:{cache_key_of(self.profile)}"
        assert self.reference is not None
        argument: Any = self.reference.argument
        if self.reference.source == "file" and isinstance(argument, str):
            argument = os.path.normpath(anchored_path(argument, directory))
        argument = json.dumps(argument, sort_keys=True)
        return f"{self.reference.source}:{argument}"

    def default_type(self) -> str:
        """The RFC 8693 §3 type when the profile names none.

        A profile's token is an access token; a token read from a file, a variable or a
        command is taken to be a JWT (a projected service-account token, an OIDC ID token,
        a SPIFFE JWT-SVID).
        """
        from tokenrack.oauth.token_exchange import ACCESS_TOKEN, JWT

        return ACCESS_TOKEN if self.profile is not None else JWT


class TokenExchange:
    """One profile's token exchange: its sources, read per fetch, and its request.

    Args:
        profile: The profile's name.
        source: The config file, for messages.
        options: The profile's options as loaded.
        resolve: Reads a secret reference (``SecretResolver.resolve``), not kept.
        tokens: The registry's other profiles.

    Raises:
        ConfigError: A key is missing, a type is given without its token, a referenced
            profile does not exist, or the references form a cycle.
    """

    def __init__(
        self,
        *,
        profile: str,
        source: str,
        options: Mapping[str, Any],
        resolve: Callable[[str, Any], Secret],
        tokens: ProfileTokens,
    ) -> None:
        self.profile = profile
        self._source = source
        # Where relative {file:} paths are read from: the config file's directory, or the
        # current one for a config that has no file.
        self._directory = (
            os.path.dirname(os.path.abspath(source)) if os.path.isfile(source) else os.getcwd()
        )
        self._resolve = resolve
        self._tokens = tokens
        # Set when the server refused a subject token taken from another profile: that
        # profile's cached token may have been revoked, so the next fetch asks for a new one.
        self._refresh_upstream = False
        if "subject_token" not in options:
            raise self._problem("subject_token", "grant: token_exchange needs a subject_token")
        self.subject = TokenSource.parse("subject_token", options["subject_token"])
        self.actor = (
            TokenSource.parse("actor_token", options["actor_token"])
            if "actor_token" in options
            else None
        )
        if self.actor is None and "actor_token_type" in options:
            raise self._problem("actor_token_type", "actor_token_type without an actor_token")
        # The RFC 8693 module loads with the first exchange profile: every other profile's
        # runtime only asks token_exchange_for, which needs none of it (issue 15).
        from tokenrack.oauth.token_exchange import token_type_uri

        self.subject_type = token_type_uri(
            str(options.get("subject_token_type") or self.subject.default_type())
        )
        self.actor_type = (
            token_type_uri(str(options.get("actor_token_type") or self.actor.default_type()))
            if self.actor is not None
            else None
        )
        requested = options.get("requested_token_type")
        self.requested_type = token_type_uri(str(requested)) if requested else None
        self._check_references(options)

    def __repr__(self) -> str:
        return f"TokenExchange(profile={self.profile!r}, subject={self.subject.key!r})"

    def _problem(self, key: str, message: str) -> ConfigError:
        return ConfigError(
            message, file=self._source, profile=self.profile, path=f"profiles.{self.profile}.{key}"
        )

    def _check_references(self, options: Mapping[str, Any]) -> None:
        """Refuse a reference to a missing profile, and any cycle through ``{profile:}``."""
        for found in (self.subject, self.actor):
            if found is None or found.profile is None:
                continue
            path = [self.profile, found.profile]
            pending = [(found.profile, path)]
            while pending:
                name, trail = pending.pop()
                if name == self.profile:
                    chain = " -> ".join(trail)
                    raise self._problem(found.key, f"a cycle of token exchanges: {chain}")
                other = self._tokens.options_of(name)
                if other is None:
                    raise self._problem(found.key, f"no profile named {name!r}")
                for key in ("subject_token", "actor_token"):
                    value = other.get(key) if other.get(GRANT_KEY) == "token_exchange" else None
                    if isinstance(value, Mapping) and PROFILE_SOURCE in value:
                        nxt = str(value[PROFILE_SOURCE])
                        if nxt not in trail[1:]:  # a cycle not through us is reported there
                            pending.append((nxt, [*trail, nxt]))

    # -- what the cache key and explain see ---------------------------------------------

    def cache_key_parts(self) -> dict[str, str]:
        """The grant, each source's identity and the token types (nothing secret)."""
        from tokenrack.oauth.token_exchange import TOKEN_EXCHANGE

        parts = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": self.subject.identity(self._tokens.cache_key_of, self._directory),
            "subject_token_type": self.subject_type,
        }
        if self.actor is not None and self.actor_type is not None:
            parts["actor_token"] = self.actor.identity(self._tokens.cache_key_of, self._directory)
            parts["actor_token_type"] = self.actor_type
        if self.requested_type:
            parts["requested_token_type"] = self.requested_type
        return parts

    def first_request(self, provider: Provider) -> TokenRequest:
        """The request as ``tokenrack explain`` shows it: the tokens are not read (masked)."""
        from tokenrack.oauth.token_exchange import exchange_request

        return exchange_request(provider, self._tokens_with(Secret("-"), Secret("-")))

    # -- fetching ---------------------------------------------------------------------

    def read(self) -> ExchangeTokens:
        """Read the subject (and actor) token for one fetch.

        Raises:
            SecretError: A secret source cannot be read (named with its profile key).
            TokenError: The referenced profile could not get its token.
        """
        subject = self._read(self.subject)
        actor = self._read(self.actor) if self.actor is not None else None
        return self._tokens_with(subject, actor)

    def _tokens_with(self, subject: Secret, actor: Secret | None) -> ExchangeTokens:
        from tokenrack.oauth.token_exchange import ExchangeTokens

        return ExchangeTokens(
            subject=subject,
            subject_type=self.subject_type,
            actor=actor,
            actor_type=self.actor_type,
            requested_type=self.requested_type,
        )

    def _read(self, found: TokenSource) -> Secret:
        if found.reference is not None:
            return self._resolve(found.key, found.reference)
        assert found.profile is not None
        force, self._refresh_upstream = self._refresh_upstream, False
        try:
            token = self._tokens.get_token(found.profile, force_refresh=force)
        except TokenrackError as error:
            raise TokenError(
                f"{found.key}: profile {found.profile!r} could not get its token: {error}"
            ) from error
        return Secret(token.access_token)

    def flow(self, provider: Provider, tokens: ExchangeTokens) -> TokenFlow:
        """The exchange for ``provider``'s endpoint, with ``tokens`` read for this fetch.

        An ``invalid_grant`` (the server refused the subject or actor token) makes the next
        fetch refresh a ``{profile:}`` source's token rather than send the cached one again.
        """
        from tokenrack.oauth.token_exchange import exchange_flow

        try:
            return (yield from exchange_flow(provider, tokens))
        except InvalidGrantError:
            self._refresh_upstream = True
            raise


def token_exchange_for(
    *,
    profile: str,
    source: str,
    options: Mapping[str, Any],
    resolve: Callable[[str, Any], Secret],
    tokens: ProfileTokens | None,
) -> TokenExchange | None:
    """The profile's token exchange, or None for any other grant.

    Raises:
        ConfigError: The exchange keys are set without ``grant: token_exchange``, or are
            unusable (see :class:`TokenExchange`).
    """
    if options.get(GRANT_KEY) != "token_exchange":
        stray = next((key for key in EXCHANGE_KEYS if key in options), None)
        if stray is not None:
            raise ConfigError(
                f"{stray} is for grant: token_exchange, and this profile's grant is "
                f"{options.get(GRANT_KEY) or 'client_credentials'}",
                file=source,
                profile=profile,
                path=f"profiles.{profile}.{stray}",
            )
        return None
    if tokens is None:
        raise ConfigError(
            "grant: token_exchange needs a registry to read other profiles' tokens",
            file=source,
            profile=profile,
            path=f"profiles.{profile}.{GRANT_KEY}",
        )
    return TokenExchange(
        profile=profile, source=source, options=options, resolve=resolve, tokens=tokens
    )
