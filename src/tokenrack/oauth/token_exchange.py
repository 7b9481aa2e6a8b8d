"""RFC 8693 token exchange as a sans-I/O flow: the request, and the answer's checks.

The exchange reuses the profile's provider for everything but the grant: its token URL,
its ``scope``, ``audience`` and ``resource`` parameters (RFC 8693 §2.1 uses RFC 8707's
names, which the ``generic`` provider already sends), its body format and its answer
parsing. Only ``grant_type`` is replaced and the subject (and actor) token appended. The
core reads the subject token (a secret source, or another profile's token) per fetch and
hands it over as a :class:`~tokenrack.secret.value.Secret`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tokenrack.errors import TokenResponseError
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.provider import Provider, TokenFlow
from tokenrack.secret.value import Secret
from tokenrack.token import Token

__all__ = [
    "ACCESS_TOKEN",
    "JWT",
    "NOT_APPLICABLE",
    "TOKEN_EXCHANGE",
    "TOKEN_TYPES",
    "ExchangeTokens",
    "checked_token",
    "exchange_flow",
    "exchange_request",
    "token_type_uri",
]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
"""The ``grant_type`` of RFC 8693 §2.1."""

_PREFIX = "urn:ietf:params:oauth:token-type:"
TOKEN_TYPES = frozenset({"access_token", "refresh_token", "id_token", "saml1", "saml2", "jwt"})
"""RFC 8693 §3's token type identifiers, by their short names (``jwt`` is RFC 7519's)."""

ACCESS_TOKEN = _PREFIX + "access_token"
"""``urn:ietf:params:oauth:token-type:access_token``."""

JWT = _PREFIX + "jwt"
"""``urn:ietf:params:oauth:token-type:jwt``."""

NOT_APPLICABLE = "N_A"
"""RFC 8693 §2.2.1: the ``token_type`` of an issued token that is not an access token."""


def token_type_uri(value: str) -> str:
    """A token type as sent: a short name of RFC 8693 §3 expanded, anything else as written.

    ``jwt`` becomes ``urn:ietf:params:oauth:token-type:jwt``; a vendor's own URI (Google's
    ``urn:ietf:params:aws:token-type:aws4_request``) passes unchanged.
    """
    return _PREFIX + value if value in TOKEN_TYPES else value


@dataclass(frozen=True, slots=True)
class ExchangeTokens:
    """What one exchange sends besides the provider's parameters (RFC 8693 §2.1).

    Attributes:
        subject: The subject token, read for this fetch.
        subject_type: Its type identifier (a URI).
        actor: The actor token, if any.
        actor_type: Its type identifier; required with an actor token.
        requested_type: ``requested_token_type``, if the profile asks for one.
    """

    subject: Secret
    subject_type: str
    actor: Secret | None = None
    actor_type: str | None = None
    requested_type: str | None = None

    def secrets(self) -> tuple[Secret, ...]:
        """The tokens sent, for scrubbing a server's echo of them."""
        return (self.subject,) if self.actor is None else (self.subject, self.actor)


def exchange_request(provider: Provider, tokens: ExchangeTokens) -> TokenRequest:
    """The provider's request turned into a token exchange (RFC 8693 §2.1).

    Client authentication stays as the provider's request says (the core applies the
    profile's method, ``none`` included).
    """
    base = provider.build_token_request().without_form("grant_type")
    form: list[tuple[str, str | Secret]] = [("grant_type", TOKEN_EXCHANGE)]
    form.extend(base.form)
    form += [("subject_token", tokens.subject), ("subject_token_type", tokens.subject_type)]
    if tokens.actor is not None and tokens.actor_type is not None:
        form += [("actor_token", tokens.actor), ("actor_token_type", tokens.actor_type)]
    if tokens.requested_type:
        form.append(("requested_token_type", tokens.requested_type))
    return replace(base, form=tuple(form))


def checked_token(token: Token, requested_type: str | None) -> Token:
    """The exchanged token, once ``issued_token_type`` says what it is (RFC 8693 §2.2.1).

    ``issued_token_type`` is required; when the profile named a ``requested_token_type``
    the server must have issued that type. ``token_type: N_A`` (not an access token) is
    accepted and kept as it is: the token is then for :attr:`Token.access_token`, not for an
    ``Authorization`` header.

    Raises:
        TokenResponseError: ``issued_token_type`` is missing, not a string, or another
            type than the one requested.
    """
    issued = token.extra.get("issued_token_type")
    if not isinstance(issued, str) or not issued:
        raise TokenResponseError(
            "the token exchange answer has no issued_token_type (RFC 8693 §2.2.1 requires it)"
        )
    if requested_type and issued != requested_type:
        raise TokenResponseError(
            f"the token exchange issued a {issued} where requested_token_type asked for "
            f"{requested_type}"
        )
    return token


def exchange_flow(provider: Provider, tokens: ExchangeTokens) -> TokenFlow:
    """One token exchange: the request, the provider's parsing, then the type checks.

    Raises:
        TokenRequestError: The server refused the exchange (RFC 8693 §2.2.2).
        TokenResponseError: The answer is not a usable exchanged token.
    """
    response = yield exchange_request(provider, tokens)
    return checked_token(provider.parse_token_response(response), tokens.requested_type)
