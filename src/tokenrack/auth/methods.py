"""Client authentication methods (RFC 6749 §2.3), named as in the IANA registry.

Each method completes a :class:`~tokenrack.oauth.message.TokenRequest` with the client's
credentials and is registered in the ``tokenrack.auth_methods`` entry-point group, so later
methods (signed assertions, mutual TLS) plug in the same way. :class:`ClientAuthMethod` is
the seam the core types against; :class:`AuthMethod` is the base that implements it with
defaults, so a method states only what differs.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

from tokenrack.errors import ConfigError
from tokenrack.oauth.message import TokenRequest
from tokenrack.secret.value import Secret

__all__ = [
    "AuthMethod",
    "ClientAuthMethod",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretPost",
    "NoClientAuth",
    "rfc6749_encode",
]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a client authentication method may use.

    Attributes:
        profile: The profile's name, for error messages.
        client_id: The client identifier.
        client_secret: The resolved client secret, when the profile has one.
        options: The profile's options (e.g. ``basic_encoding``); secrets unresolved.
        secrets: Other resolved secret options the method declared it needs.
        source: The config file the profile is in, for messages (None when unknown).
    """

    profile: str
    client_id: str
    client_secret: Secret | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    source: str | None = None


class ClientAuthMethod(Protocol):
    """A way of authenticating the client to the token endpoint.

    Attributes:
        name: The IANA name, equal to the entry-point name.
        options_schema: JSON Schema properties of the method's own profile keys (a key in
            ``secret_options`` may map to ``{}``: the core gives it the secret schema).
        required_options: Profile keys the method cannot work without (its material).
        secret_options: Profile keys holding secrets the method needs resolved.
        requires_extra: The optional extra the method needs installed, e.g.
            ``tokenrack[jwt]``; a profile using it without the extra is a ConfigError.
        requires_client_certificate: The request must go over mutual TLS with the
            profile's ``client_cert`` and ``client_key``.
    """

    name: ClassVar[str]
    options_schema: ClassVar[Mapping[str, Any]]
    required_options: ClassVar[tuple[str, ...]]
    secret_options: ClassVar[frozenset[str]]
    requires_extra: ClassVar[str | None]
    requires_client_certificate: ClassVar[bool]

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Return ``request`` completed with the client's credentials."""
        ...


class AuthMethod(ABC):
    """Base class of client authentication methods: defaults for every class attribute.

    A subclass sets ``name`` (the entry-point name) and what differs from the defaults
    below, and implements :meth:`authenticate`; it then satisfies
    :class:`ClientAuthMethod`. The attributes mean what they mean there.

    Attributes:
        name: Must be set; equal to the entry-point name (checked at load).
        options_schema: No keys of its own.
        required_options: Nothing required.
        secret_options: No secrets beyond ``client_secret``.
        requires_extra: No optional extra.
        requires_client_certificate: No mutual TLS.
    """

    name: ClassVar[str] = ""
    options_schema: ClassVar[Mapping[str, Any]] = {}
    required_options: ClassVar[tuple[str, ...]] = ()
    secret_options: ClassVar[frozenset[str]] = frozenset()
    requires_extra: ClassVar[str | None] = None
    requires_client_certificate: ClassVar[bool] = False

    @abstractmethod
    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Return ``request`` completed with the client's credentials.

        Called for every attempt, so a method may sign something fresh each time.

        Raises:
            ConfigError: The profile lacks what the method needs (path relative to it).
        """


def rfc6749_encode(value: str) -> str:
    """Form-encode one Basic credential as RFC 6749 §2.3.1 asks, before base64.

    Every byte outside the unreserved set is percent-encoded (UTF-8), a space included as
    ``%20``: every form decoder reads ``%20`` as a space, whereas some servers misread ``+``.
    """
    return quote(value, safe="")


def _require_secret(client: ClientCredentials, method: str) -> Secret:
    if client.client_secret is None:
        raise ConfigError(
            f"{method} needs client_secret", profile=client.profile, path="client_secret"
        )
    return client.client_secret


class ClientSecretBasic(AuthMethod):
    """``client_secret_basic``: id and secret in an HTTP Basic ``Authorization`` header.

    With ``basic_encoding: rfc6749`` (the default) each is form-encoded first, as RFC 6749
    §2.3.1 requires; ``basic_encoding: raw`` sends them as plain RFC 7617 Basic for servers
    that do not decode.
    """

    name: ClassVar[str] = "client_secret_basic"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "basic_encoding": {"enum": ["rfc6749", "raw"]},
    }
    required_options: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add the ``Authorization: Basic …`` header."""
        secret = _require_secret(client, self.name)
        rfc6749 = client.options.get("basic_encoding", "rfc6749") == "rfc6749"
        header = _basic_credentials(client.client_id, secret, rfc6749=rfc6749)
        return request.with_header("Authorization", header)


def _basic_credentials(client_id: str, secret: Secret, *, rfc6749: bool) -> Secret:
    """The ``Basic …`` header value, wrapped; the plain pair lives only in this frame."""
    value = secret.reveal()
    if rfc6749:
        client_id, value = rfc6749_encode(client_id), rfc6749_encode(value)
    return Secret("Basic " + base64.b64encode(f"{client_id}:{value}".encode()).decode("ascii"))


class ClientSecretPost(AuthMethod):
    """``client_secret_post``: id and secret as ``client_id`` and ``client_secret`` in the body."""

    name: ClassVar[str] = "client_secret_post"
    required_options: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add ``client_id`` and ``client_secret`` to the form."""
        secret = _require_secret(client, self.name)
        return request.without_form("client_id", "client_secret").with_form(
            ("client_id", client.client_id), ("client_secret", secret)
        )


class NoClientAuth(AuthMethod):
    """``none``: no client authentication.

    Two kinds of profile use it. A public client is identified by ``client_id`` in the
    body only (RFC 6749 §2.1, §3.2.1): its provider's schema requires ``client_id``, as
    every provider that offers ``none`` to public clients does. A provider whose grant
    carries its own credential (an RFC 7523 §2.1 JWT-bearer grant; its requests say
    ``authenticate=False``) declares ``none`` as its only method, and needs no
    ``client_id`` at all (RFC 7521 §4.1), so the method itself requires no key.
    """

    name: ClassVar[str] = "none"

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add ``client_id`` to the form.

        Raises:
            ConfigError: The profile has no ``client_id`` to identify the client with.
        """
        if not client.client_id:
            raise ConfigError(
                "auth method none sends client_id to identify a public client, and the "
                "profile has none",
                profile=client.profile,
                path=f"profiles.{client.profile}.client_id",
            )
        return request.without_form("client_id", "client_secret").with_form(
            ("client_id", client.client_id)
        )
