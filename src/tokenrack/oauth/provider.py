"""The :class:`Provider` base: RFC 6749 §4.4 client credentials, with small hooks.

A provider is sans-I/O: it builds :class:`~tokenrack.oauth.message.TokenRequest` values and parses
:class:`~tokenrack.oauth.message.HttpResponse` values. It never opens a socket, sleeps, locks or
caches; the core does all of that for every provider alike. A vendor plugin is usually a
subclass that overrides :meth:`Provider.token_url` and sets a few class attributes.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, ClassVar

from tokenrack.oauth.message import HttpResponse, TokenRequest
from tokenrack.oauth.response import ResponseFields, parse_token_response
from tokenrack.secret.value import Secret
from tokenrack.token import Token

__all__ = ["Provider", "TokenFlow"]

TokenFlow = Generator[TokenRequest, HttpResponse, Token]
"""A token flow yields requests, is sent their answers, and returns the token."""


class Provider:
    """RFC 6749 §4.4: the client-credentials grant, one POST, one token.

    Subclasses set the class attributes and override hooks; the core constructs one
    instance per profile with the profile's validated options.

    Attributes:
        name: The entry-point name this provider is registered under (checked at load).
        options_schema: JSON Schema (draft 2020-12) of the provider's own profile keys;
            merged with the core's profile schema, so unknown keys are rejected.
        default_auth_method: The client authentication method used when the profile
            names none.
        supported_auth_methods: The methods a profile may choose for this provider.
        grant_type: The ``grant_type`` sent.
        scope_separator: How scopes are joined in the ``scope`` parameter (RFC 6749 §3.3).
        secret_options: Provider keys that hold secrets (resolved lazily, never logged) and
            are handed to :meth:`token_flow`.
        response_fields: Where the vendor puts the token and its lifetime.
        options: The profile's options (core and provider keys; secrets unresolved).
    """

    name: ClassVar[str] = ""
    options_schema: ClassVar[Mapping[str, Any]] = {"type": "object", "properties": {}}
    default_auth_method: ClassVar[str] = "client_secret_basic"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {"client_secret_basic", "client_secret_post"}
    )
    grant_type: ClassVar[str] = "client_credentials"
    scope_separator: ClassVar[str] = " "
    secret_options: ClassVar[frozenset[str]] = frozenset()
    response_fields: ClassVar[ResponseFields] = ResponseFields()

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # -- what the profile says -------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """The profile's ``client_id``, when it has one."""
        value = self.options.get("client_id")
        return value if isinstance(value, str) else None

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the profile asks for, as written."""
        return tuple(self.options.get("scopes") or ())

    @property
    def default_ttl(self) -> float:
        """The lifetime assumed when an answer states none (``default_ttl``, 3600 s)."""
        return float(self.options.get("default_ttl", 3600))

    @property
    def auth_method(self) -> str:
        """The client authentication method the profile uses (its own, or the default)."""
        return str(self.options.get("auth_method") or self.default_auth_method)

    def check_options(self) -> None:
        """Check what ``options_schema`` cannot say; called once when the config loads.

        The default checks nothing. Override to refuse combinations a schema expresses
        badly (e.g. "one resource per request", "this scope needs that auth method"),
        raising :class:`~tokenrack.errors.ConfigError` whose ``path`` (or whose problems'
        paths) are relative to the profile, e.g. ``path="scopes"``; the loader reports
        them under ``profiles.<name>`` with the file, like schema errors.

        Raises:
            ConfigError: The profile's options cannot work with this provider.
        """

    # -- hooks -------------------------------------------------------------------------

    @classmethod
    def preset(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> Mapping[str, Any]:
        """Options a switch in the profile stands for, read from the environment at load.

        Called with the profile as written (before validation) and the registry's
        environment; what it returns is placed UNDER the profile's own keys (the profile
        wins), in the form a config file would hold them (a secret as ``{file: PATH}``).
        E.g. ``workload_identity: true`` reading the variables a platform injects. Never
        return a secret's value: return where to read it. The default adds nothing.
        """
        return {}

    def options_from_secrets(self, secrets: Mapping[str, Secret]) -> Mapping[str, Any]:
        """Options the provider learns from its ``secret_options`` once they are resolved.

        The core calls it when the profile is built, and builds the provider again with
        these options added, so that what is shown (``tokenrack profiles``/``explain``),
        logged and put in the cache key is what :meth:`token_flow` uses: e.g. a key file
        that names its own token URL. Never return a secret, nor anything derived from
        one. The default learns nothing.
        """
        return {}

    def token_url(self) -> str:
        """The token endpoint. The base reads ``token_url``; vendors build it from a template.

        Vendor plugins should still honour an explicit ``token_url`` (private endpoints,
        egress proxies, tests), e.g. ``return self.options.get("token_url") or template``.
        """
        return str(self.options["token_url"])

    def scope_parameter(self) -> str | None:
        """The ``scope`` value, or None to send no scope."""
        scopes = self.scopes
        return self.scope_separator.join(scopes) if scopes else None

    def extra_parameters(self) -> list[tuple[str, str]]:
        """Form parameters beyond ``grant_type`` and ``scope`` (e.g. ``audience``)."""
        return []

    # -- the contract the core drives -----------------------------------------------

    def build_token_request(self) -> TokenRequest:
        """Build the token request, without client authentication (the core adds it)."""
        form: list[tuple[str, str]] = [("grant_type", self.grant_type)]
        scope = self.scope_parameter()
        if scope:
            form.append(("scope", scope))
        form.extend(self.extra_parameters())
        return TokenRequest(url=self.token_url(), form=tuple(form))

    def parse_token_response(self, response: HttpResponse) -> Token:
        """Parse the answer into a token.

        Raises:
            TokenRequestError: The server refused.
            TokenResponseError: The answer is not a usable token.
        """
        return parse_token_response(
            response,
            requested_scopes=self.scopes,
            default_ttl=self.default_ttl,
            fields=self.response_fields,
        )

    def cache_key_parts(self) -> Mapping[str, str]:
        """Everything that makes two tokens differ, and nothing secret.

        The default takes the provider name, the token URL, the client id and every
        non-secret form parameter of :meth:`build_token_request`, with scopes sorted so that
        the order they are listed in does not split the cache. The core adds the part
        ``credential`` itself: a keyed fingerprint of the profile's secrets (see
        docs/security.md, "Credential binding"); an override never adds a secret, nor
        anything derived from one.
        """
        request = self.build_token_request()
        parts: dict[str, str] = {
            "provider": self.name,
            "token_url": request.url,
            "client_id": self.client_id or "",
        }
        for key, value in request.form:
            if isinstance(value, Secret):
                continue
            if key == "scope":
                value = " ".join(sorted(value.split(self.scope_separator.strip() or None)))
            parts[key] = f"{parts[key]}\n{value}" if key in parts else value
        return parts

    def token_flow(self, secrets: Mapping[str, Secret]) -> TokenFlow:
        """Yield the requests that obtain a token and return the token.

        The default makes one round trip. A provider that needs several (or signs its own
        grant with one of its ``secret_options``, handed over in ``secrets``) overrides it;
        the core applies client authentication, retries and timeouts to every request
        yielded, so an override stays free of I/O.
        """
        response = yield self.build_token_request()
        return self.parse_token_response(response)
