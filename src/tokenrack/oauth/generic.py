"""The ``generic`` provider: any RFC 6749 token endpoint, configured in YAML alone.

Besides the plain grant it speaks the common dialects declaratively, so most vendors need
no code: a token URL template, another ``grant_type``, another scope separator, a JSON
body or parameters in the query string, extra parameters, and where the answer keeps the
token, its lifetime (and in which unit) and its type.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from tokenrack.errors import ConfigError, ConfigProblem
from tokenrack.oauth.message import HttpResponse, TokenRequest
from tokenrack.oauth.provider import Provider
from tokenrack.oauth.response import ResponseFields, parse_token_response
from tokenrack.token import Token

__all__ = ["GenericProvider"]

# A template value stands for a host label, a port or a path segment: it may not bring
# its own '/', '?', '#', '@' or whitespace, so it can never move a request to another host.
_VALUE_PATTERN = r"^[^\s/?#@{}]+$"
_FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class GenericProvider(Provider):
    """Client credentials against any RFC 6749 endpoint, with every standard auth method.

    Profile keys: ``token_url`` (may hold ``{name}`` placeholders filled from
    ``token_url_params``) or ``issuer`` (discovery), ``scopes``, ``audience``, ``resource``
    (RFC 8707: one or several, each its own parameter), ``extra_params``, ``grant_type``,
    ``scope_separator``, ``body_format`` (``form`` or ``json``), ``params_in`` (``body`` or
    ``query``), ``allow_secret_in_query`` and ``response_fields``. ``auth_method`` defaults
    to ``auto``.
    """

    name: ClassVar[str] = "generic"
    default_auth_method: ClassVar[str] = "auto"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset(
        {
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "client_assertion",
            "tls_client_auth",
            "self_signed_tls_client_auth",
            "none",
        }
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["client_id"],
        "anyOf": [{"required": ["token_url"]}, {"required": ["issuer"]}],
        "properties": {
            "audience": {"type": "string", "minLength": 1},
            "resource": {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                ]
            },
            "extra_params": {
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "token_url_params": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {
                    "type": "string",
                    "pattern": _VALUE_PATTERN,
                    "description": "a host label, port or path segment (no / ? # @ or spaces)",
                },
            },
            "grant_type": {"type": "string", "minLength": 1},
            "scope_separator": {"type": "string", "minLength": 1},
            "body_format": {"enum": ["form", "json"]},
            "params_in": {"enum": ["body", "query"]},
            "allow_secret_in_query": {"type": "boolean"},
            "response_fields": {
                "type": "object",
                "properties": {
                    "token": {"type": "string", "pattern": _FIELD_PATTERN},
                    "expires_in": {"type": "string", "pattern": _FIELD_PATTERN},
                    "expires_in_unit": {"enum": ["s", "ms"]},
                    "token_type": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
    }

    # -- what the profile says ---------------------------------------------------------

    @property
    def separator(self) -> str:
        """How scopes are joined in the request and split in the answer."""
        return str(self.options.get("scope_separator") or self.scope_separator)

    def _fields(self) -> ResponseFields:
        mapping = self.options.get("response_fields") or {}
        return ResponseFields(
            token=mapping.get("token", "access_token"),
            expires_in=mapping.get("expires_in", "expires_in"),
            expires_in_unit=mapping.get("expires_in_unit", "s"),
            scope_separator=self.separator,
        )

    def check_options(self) -> None:
        """Refuse a template with an unfilled placeholder, and a secret bound for the URL.

        With ``params_in: query`` and ``client_secret_post`` the secret would travel in
        the URL, where proxies, server access logs and HTTP client debug logs keep it;
        that needs ``allow_secret_in_query: true`` (tokenrack still masks it in its own
        and urllib3's log lines).

        Raises:
            ConfigError: A placeholder has no value, or the secret would go in the URL.
        """
        problems = self._template_problems()
        secret_in_query = self._secret_in_query_problem()
        if secret_in_query is not None:
            problems.append(secret_in_query)
        if problems:
            raise ConfigError(problems=problems)

    def _template_problems(self) -> list[ConfigProblem]:
        """A ``token_url`` template that does not parse, or names a placeholder with no value."""
        template = str(self.options.get("token_url") or "")
        params = self.options.get("token_url_params") or {}
        try:
            names = [field for _, field, _, _ in string.Formatter().parse(template) if field]
        except ValueError as error:
            return [ConfigProblem("token_url", f"not a valid URL template: {error}")]
        return [
            ConfigProblem(
                "token_url",
                f"the template names {{{name}}}, but token_url_params has no {name!r}",
            )
            for name in names
            if name not in params
        ]

    def _secret_in_query_problem(self) -> ConfigProblem | None:
        """``params_in: query`` that would put the client secret in the URL, unless allowed."""
        # auto may fall back to client_secret_post at run time, so it counts as post here.
        if (
            self.options.get("params_in") == "query"
            and self.auth_method in ("client_secret_post", "auto")
            and "client_secret" in self.options
            and self.options.get("allow_secret_in_query") is not True
        ):
            return ConfigProblem(
                "params_in",
                f"params_in: query with {self.auth_method} could put the client secret in "
                "the URL (kept by proxies and server logs); set auth_method: "
                "client_secret_basic, or allow_secret_in_query: true if the server accepts "
                "nothing else",
            )
        return None

    # -- hooks -------------------------------------------------------------------------

    def token_url(self) -> str:
        """``token_url`` with its ``{name}`` placeholders filled from ``token_url_params``."""
        template = str(self.options["token_url"])
        params = self.options.get("token_url_params") or {}
        if not params:
            return template
        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: str(params[m.group(1)]), template)

    def scope_parameter(self) -> str | None:
        """The scopes joined with ``scope_separator`` (a space unless the profile says)."""
        scopes = self.scopes
        return self.separator.join(scopes) if scopes else None

    def extra_parameters(self) -> list[tuple[str, str]]:
        """``audience``, each ``resource`` and the ``extra_params``, in that order."""
        params: list[tuple[str, str]] = []
        audience = self.options.get("audience")
        if audience:
            params.append(("audience", audience))
        resource = self.options.get("resource")
        resources = [resource] if isinstance(resource, str) else list(resource or ())
        params.extend(("resource", value) for value in resources)
        params.extend(sorted((self.options.get("extra_params") or {}).items()))
        return params

    def build_token_request(self) -> TokenRequest:
        """The RFC 6749 request, with this profile's grant type, body format and placement."""
        grant_type = str(self.options.get("grant_type") or self.grant_type)
        request = super().build_token_request()
        form = tuple(
            (key, grant_type if key == "grant_type" else value) for key, value in request.form
        )
        body_format: Literal["form", "json"] = self.options.get("body_format") or "form"
        params_in: Literal["body", "query"] = self.options.get("params_in") or "body"
        return dataclasses.replace(request, form=form, body_format=body_format, params_in=params_in)

    def cache_key_parts(self) -> Mapping[str, str]:
        """The default parts; scopes are split on this profile's separator."""
        parts = dict(super().cache_key_parts())
        scope = self.scope_parameter()
        if scope:
            parts["scope"] = " ".join(sorted(s for s in scope.split(self.separator) if s))
        return parts

    def parse_token_response(self, response: HttpResponse) -> Token:
        """Parse with this profile's ``response_fields``; ``token_type`` forced if set.

        Raises:
            TokenRequestError: The server refused.
            TokenResponseError: The answer is not a usable token.
        """
        token = parse_token_response(
            response,
            requested_scopes=self.scopes,
            default_ttl=self.default_ttl,
            fields=self._fields(),
        )
        forced = (self.options.get("response_fields") or {}).get("token_type")
        return dataclasses.replace(token, token_type=forced) if forced else token
