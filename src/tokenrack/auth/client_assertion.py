"""``client_assertion``: a client assertion made elsewhere (workload identity, RFC 7521 §4.2).

The client holds no key: a platform issues it a signed JWT (a Kubernetes projected
service-account token, a GitHub Actions OIDC token, a SPIFFE JWT-SVID) that the
authorization server trusts as a federated credential. The profile names where to read it,
``client_assertion: {file: /var/run/secrets/tokens/azure-identity-token}`` (any secret
source), and each attempt sends it as ``client_assertion`` with
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``.

The assertion rotates under the profile (the kubelet rewrites the file about every hour), so
it is a *rotating* option: read again for every fetch, never kept, and its cache key carries
the source's identity (``file:/var/run/…``) rather than the value (see
:mod:`tokenrack.core.credential`). When the server says the assertion is expired or invalid,
the core reads it again and retries once before the refusal cooldown applies
(:func:`is_stale_assertion`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.auth.methods import AuthMethod, ClientCredentials
from tokenrack.errors import ConfigError, InvalidClientError, InvalidGrantError
from tokenrack.oauth.message import TokenRequest
from tokenrack.secret.value import Secret, SecretRef

__all__ = [
    "ASSERTION_OPTION",
    "ASSERTION_TYPE",
    "ROTATING_OPTIONS",
    "ClientAssertion",
    "assertion_expiry",
    "is_stale_assertion",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_OPTION = "client_assertion"
ROTATING_OPTIONS = frozenset({ASSERTION_OPTION})
"""Secret options read again for every fetch and bound to their source, not their value."""

# Entra: "AADSTS700024: Client assertion is not within its valid time range";
# AADSTS700027/700023 are signature and audience failures of a federated credential.
_STALE_MARKERS = ("AADSTS700024", "expired", "not within its valid time range")


def assertion_expiry(assertion: str) -> float | None:
    """The ``exp`` claim of a compact JWT, read WITHOUT verifying it; None if there is none.

    Only used to fail early, with a clear message, on an assertion that has already expired:
    the server checks the signature.
    """
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def is_stale_assertion(error: BaseException) -> bool:
    """Whether the server refused the client because its assertion is expired or invalid.

    ``invalid_client`` (the client assertion is the client's credential: any refusal of it
    may be a rotation the process has not yet read) or ``invalid_grant`` naming an expired
    assertion. The core reads the assertion again and retries once, immediately.
    """
    if isinstance(error, InvalidClientError):
        return True
    if isinstance(error, InvalidGrantError):
        text = f"{error.error_description or ''}"
        return any(marker.lower() in text.lower() for marker in _STALE_MARKERS)
    return False


class ClientAssertion(AuthMethod):
    """``client_assertion``: send an assertion read from a secret source as it is.

    Profile keys: ``client_assertion`` (a secret: ``{file: …}``, ``{env: …}``,
    ``{command: …}``, ``{github_oidc: {audience: …}}``); ``client_id`` is sent too when the
    profile has one (Entra requires it; RFC 7521 makes it optional).
    """

    name: ClassVar[str] = "client_assertion"
    options_schema: ClassVar[Mapping[str, Any]] = {ASSERTION_OPTION: {}}
    required_options: ClassVar[tuple[str, ...]] = (ASSERTION_OPTION,)
    secret_options: ClassVar[frozenset[str]] = frozenset({ASSERTION_OPTION})

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add ``client_assertion_type`` and the assertion (and ``client_id``, if any).

        Raises:
            ConfigError: No assertion was read, or the one read has already expired (the
                message names where it was read from, never its content).
        """
        path = f"profiles.{client.profile}.{ASSERTION_OPTION}"
        assertion = client.secrets.get(ASSERTION_OPTION)
        if assertion is None:
            raise ConfigError(
                "client_assertion needs client_assertion (a secret source: {file: …}, "
                "{env: …}, {command: …} or {github_oidc: {audience: …}})",
                file=client.source,
                profile=client.profile,
                path=path,
            )
        expiry = assertion_expiry(assertion.reveal().strip())
        if expiry is not None and expiry <= time.time():
            raise ConfigError(
                f"the client assertion read from {_where(client)} expired "
                f"{time.time() - expiry:.0f}s ago; whatever writes it has stopped rotating it",
                file=client.source,
                profile=client.profile,
                path=path,
            )
        form: list[tuple[str, Any]] = []
        if client.client_id:
            form.append(("client_id", client.client_id))
        form += [
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", Secret(assertion.reveal().strip())),
        ]
        return request.without_form(
            "client_id", "client_secret", "client_assertion", "client_assertion_type"
        ).with_form(*form)


def _where(client: ClientCredentials) -> str:
    """The source an assertion was read from, as written (``file /var/run/…``)."""
    configured = client.options.get(ASSERTION_OPTION)
    return configured.describe() if isinstance(configured, SecretRef) else "the profile"
