"""``{github_oidc: {audience: …}}``: a GitHub Actions OIDC token, as a client assertion.

In a workflow with ``permissions: id-token: write`` the runner sets
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``. The token is asked
for as ``@actions/core``'s ``getIDToken`` does: ``GET {URL}&audience={audience}`` with
``Authorization: Bearer {TOKEN}``; the JSON answer's ``value`` is the JWT. The audience is
what the relying party's federated credential expects (``api://AzureADTokenExchange`` for
Entra). The token lives minutes, so the source is asked again at every fetch (the option
holding it is a rotating one).

Standard library only (``urllib.request``): the ``secret`` layer sits below the transport.
The request token and the answer are never logged or put in an error message.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.errors import SecretError
from tokenrack.secret.sources import SecretContext

__all__ = ["REQUEST_TOKEN_VARIABLE", "REQUEST_URL_VARIABLE", "TIMEOUT", "GithubOidcSecretSource"]

REQUEST_URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
TIMEOUT = 10.0
"""Seconds the runner gets to answer."""
_MAX_ANSWER = 64 * 1024
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class GithubOidcSecretSource:
    """``{github_oidc: {audience: AUD}}`` (``audience`` optional: the runner's default)."""

    name: ClassVar[str] = "github_oidc"
    argument_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"audience": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    }

    def resolve(self, argument: Any) -> str:
        """Ask the runner named by ``os.environ``."""
        return self.resolve_in(argument, SecretContext())

    def resolve_in(self, argument: Any, context: SecretContext) -> str:
        """Ask the runner named by the registry's environment for an ID token.

        Raises:
            SecretError: Not in a workflow with ``id-token: write``, the runner refused or
                did not answer, or its answer holds no token.
        """
        environ = os.environ if context.environ is None else context.environ
        url = environ.get(REQUEST_URL_VARIABLE)
        token = environ.get(REQUEST_TOKEN_VARIABLE)
        if not url or not token:
            raise SecretError(
                f"{REQUEST_URL_VARIABLE} and {REQUEST_TOKEN_VARIABLE} are not set: run in a "
                "GitHub Actions job with 'permissions: id-token: write'"
            )
        audience = (argument or {}).get("audience") if isinstance(argument, Mapping) else None
        if audience:
            separator = "&" if urllib.parse.urlsplit(url).query else "?"
            url = f"{url}{separator}audience={urllib.parse.quote(str(audience), safe='')}"
        return _ask(url, token)


def _ask(url: str, token: str) -> str:
    parts = urllib.parse.urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may carry ids
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise SecretError(f"{REQUEST_URL_VARIABLE} must be an https URL, not {shown}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    handlers: list[urllib.request.BaseHandler] = []
    if parts.hostname in _LOOPBACK:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=TIMEOUT) as answer:
            body = answer.read(_MAX_ANSWER + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise SecretError(
            f"the GitHub Actions runner at {shown} refused the ID token request: "
            f"HTTP {error.code} (does the job have 'permissions: id-token: write'?)"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SecretError(f"cannot reach the GitHub Actions runner at {shown}: {reason}") from None
    if len(body) > _MAX_ANSWER:
        raise SecretError(f"the GitHub Actions runner at {shown} answered more than 64 KiB")
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise SecretError(
            f"the GitHub Actions runner at {shown} answered without a token (no JSON 'value')"
        )
    return value
