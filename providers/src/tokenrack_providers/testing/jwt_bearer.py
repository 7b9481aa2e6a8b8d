"""Vendors' JWT-bearer grants, strictly: Salesforce, DocuSign, ServiceNow and Zitadel.

Each is :class:`~tokenrack.testing.jwt_bearer.JwtBearerPersonality` with the vendor's
path, accepted ``aud``, rules for ``sub`` and lifetime, and its wording. Sources are in
docs/jwt-bearer.md; where a detail is inferred (``[I]``) rather than documented, the
docstring says so. Issuers are registered with
:func:`~tokenrack.testing.jwt_bearer.jwt_bearer_client` (the ``client_id`` is the ``iss``:
a consumer key, an integration key, a Zitadel ``userId``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from tokenrack.testing.assertions import unverified
from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.jwt_bearer import JwtBearerPersonality
from tokenrack.testing.personality import Answer, Exchange

__all__ = [
    "DocuSignJwtPersonality",
    "SalesforceJwtPersonality",
    "ServiceNowJwtPersonality",
    "ZitadelJwtPersonality",
]

SALESFORCE_AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})


class SalesforceJwtPersonality(JwtBearerPersonality):
    """Salesforce's OAuth 2.0 JWT bearer flow at ``/services/oauth2/token``.

    ``iss`` = the connected app's consumer key, ``sub`` = a username the app is
    pre-authorized for (``users``), ``aud`` = ``https://login.salesforce.com``,
    ``https://test.salesforce.com`` or a community URL (``audiences``), ``exp`` within 3
    minutes. Answers have no ``expires_in`` (as Salesforce's client-credentials answers).
    The wording of refusals is inferred from client libraries' reports [I].

    Args:
        users: For each consumer key, the usernames it may act as.
        audiences: Accepted ``aud`` values (login and test by default).
        instance_url: The org's API base, as answered.
    """

    name: ClassVar[str] = "salesforce_jwt"

    def __init__(
        self,
        users: Mapping[str, Iterable[str]] | None = None,
        *,
        audiences: Collection[str] = SALESFORCE_AUDIENCES,
        instance_url: str = "https://acme.my.salesforce.com",
    ) -> None:
        super().__init__(
            audiences=audiences,
            subjects=users,
            max_lifetime=180.0,
            path="/services/oauth2/token",
        )
        self.instance_url = instance_url

    def describe(self, reason: str, message: str) -> tuple[str, str]:
        """Salesforce's terse ``invalid_grant`` descriptions [I]."""
        if reason == "subject":
            return "invalid_grant", "user hasn't approved this consumer"
        if reason == "audience":
            return "invalid_grant", "audience is invalid"
        if reason == "lifetime":
            return "invalid_grant", "expired authorization code"
        if reason == "issuer":
            return "invalid_client_id", "client identifier invalid"
        return "invalid_grant", "invalid assertion"

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Salesforce's answer: ``instance_url``, ``id``, ``issued_at``, and no lifetime."""
        return {
            "access_token": body["access_token"],
            "scope": body.get("scope", "api"),
            "instance_url": self.instance_url,
            "id": f"https://login.salesforce.com/id/00D{secrets.token_hex(6)}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }


class DocuSignJwtPersonality(JwtBearerPersonality):
    """DocuSign's JWT Grant at ``/oauth/token`` (``account-d.docusign.com`` for the demo).

    ``iss`` = the integration key, ``sub`` = the user id to impersonate (required, and it
    must have granted consent: ``consented``), ``aud`` = the auth host without scheme,
    ``scope`` claim holding ``signature`` and ``impersonation``, ``exp`` at most an hour
    after ``iat``. A user without consent is ``consent_required`` (DocuSign documents the
    error code; its description here is inferred [I]).

    Args:
        consented: For each integration key, the user ids that granted consent.
        audience: The auth host (``account.docusign.com`` for production).
    """

    name: ClassVar[str] = "docusign_jwt"

    def __init__(
        self,
        consented: Mapping[str, Iterable[str]] | None = None,
        *,
        audience: str = "account-d.docusign.com",
    ) -> None:
        super().__init__(
            audiences={audience}, subjects=consented, scope_claim=True, path="/oauth/token"
        )

    def describe(self, reason: str, message: str) -> tuple[str, str]:
        """``consent_required`` for a user without consent; ``invalid_grant`` otherwise."""
        if reason == "subject":
            return "consent_required", "consent_required"
        if reason == "scope":
            return "invalid_scope", "the assertion needs scope 'signature impersonation'"
        return "invalid_grant", message

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """As the strict personality, and the ``impersonation`` scope is required."""
        refused = super().check(emulator, exchange, client, method, params)
        if refused is not None:
            return refused
        decoded = unverified(exchange.param("assertion", params) or "")
        scopes = str(decoded[1].get("scope", "")).split() if decoded else []
        if "impersonation" not in scopes:
            return self.refusal(400, "invalid_scope", "scope must include impersonation")
        return None


class ServiceNowJwtPersonality(JwtBearerPersonality):
    """ServiceNow's JWT bearer grant at ``/oauth_token.do``.

    ServiceNow wants the OAuth application's ``client_id`` and ``client_secret`` in the
    body (``client_secret_post``) beside the ``assertion``; the assertion's ``iss`` is the
    client id here, ``sub`` a user the JWT verifier maps (``users``). Which ``aud``
    ServiceNow requires depends on the JWT provider's configuration; this personality
    accepts ``audiences`` (the client id by default) [I].

    Args:
        users: For each client id, the users it may act as.
        audiences: Accepted ``aud`` values; None is the client id.
    """

    name: ClassVar[str] = "servicenow_jwt"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"client_secret_post"})

    def __init__(
        self,
        users: Mapping[str, Iterable[str]] | None = None,
        *,
        audiences: Collection[str] | None = None,
    ) -> None:
        super().__init__(
            audiences=audiences,
            subjects=users,
            require_client_auth=True,
            path="/oauth_token.do",
        )
        self._audience_is_client = audiences is None

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """As the strict personality, with ``aud`` = the client id unless told otherwise."""
        if self._audience_is_client:
            self.audiences = frozenset({client.client_id})
        return super().check(emulator, exchange, client, method, params)

    def describe(self, reason: str, message: str) -> tuple[str, str]:
        """``access_denied`` for a user the verifier does not map; ``invalid_grant`` else [I]."""
        if reason == "subject":
            return "access_denied", "user not found"
        return "invalid_grant", message


class ZitadelJwtPersonality(JwtBearerPersonality):
    """Zitadel's JWT profile grant at ``/oauth/v2/token``.

    The assertion is signed with a service user's key (the JSON key file's ``key``,
    ``kid`` = its ``keyId``): ``iss`` = ``sub`` = the ``userId``, ``aud`` = the instance's
    issuer URL (``issuer``), ``exp`` at most an hour later. Scopes travel as the ``scope``
    parameter (e.g. ``openid urn:zitadel:iam:org:project:id:{id}:aud``).

    Args:
        issuer: The instance URL the assertion's ``aud`` must be; None is the emulator's
            own URL.
    """

    name: ClassVar[str] = "zitadel_jwt"

    def __init__(self, issuer: str | None = None) -> None:
        super().__init__(audiences={issuer} if issuer else None, path="/oauth/v2/token")
        self._issuer = issuer

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """As the strict personality, with ``aud`` = the issuer (the emulator's URL by default)."""
        self.audiences = frozenset({self._issuer or emulator.url})
        return super().check(emulator, exchange, client, method, params)

    def describe(self, reason: str, message: str) -> tuple[str, str]:
        """Zitadel's ``invalid_grant`` with the reason, and ``invalid_client`` for no such key."""
        if reason == "issuer":
            return "invalid_client", "client not found"
        return "invalid_grant", message
