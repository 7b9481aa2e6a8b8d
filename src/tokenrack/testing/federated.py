"""Federated client assertions (workload identity), checked as strictly as a real server.

A server that trusts an external issuer (a Kubernetes cluster, GitHub Actions, a SPIFFE
trust domain) registers a *federated credential* for a client: tokens that issuer signs for
one subject and audience authenticate the client, sent as ``client_assertion`` with
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` (RFC 7521
§4.2). :class:`FederatedPersonality` refuses what such a server refuses: the wrong
``client_assertion_type``, a bad signature, another issuer, subject or audience, an expired
assertion, and (by default) a replayed ``jti``. Each refusal is ``invalid_client`` (401).

Entra words its refusals with AADSTS codes: ``tokenrack_providers.testing.entra_federated``
reuses :func:`check_federated_assertion` with its own wording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from tokenrack.testing.assertions import (
    AssertionError_,
    load_public_key,
    verify_grant_assertion,
)
from tokenrack.testing.emulator import ASSERTION_TYPE, TokenEmulator
from tokenrack.testing.personality import Exchange, Personality, Verdict

__all__ = [
    "METHOD",
    "FederatedCredential",
    "FederatedPersonality",
    "Wording",
    "check_federated_assertion",
]

METHOD = "client_assertion"
"""The auth method name requests authenticated this way are recorded under."""

Wording = Callable[[str, str], str]
"""``(reason, detail) -> error_description``; reasons: ``type``, ``malformed``, ``client``,
``signature``, ``issuer``, ``subject``, ``audience``, ``lifetime``, ``replay``."""


@dataclass(frozen=True, slots=True)
class FederatedCredential:
    """A client's trust in an external issuer's tokens (Entra's "federated credential").

    Attributes:
        client_id: The client the tokens authenticate (registered with the emulator).
        issuer: The ``iss`` the tokens must carry.
        subject: The ``sub`` they must carry (``system:serviceaccount:NS:NAME``, ``repo:…``).
        audience: An ``aud`` they must carry (``api://AzureADTokenExchange``).
        public_key: The issuer's verification key: PEM (key or certificate) or a JWK.
        algorithms: Accepted ``alg`` values.
        max_lifetime: Longest ``exp`` - ``iat`` accepted (a projected token lives up to a day).
    """

    client_id: str
    issuer: str
    subject: str
    audience: str
    public_key: str = field(repr=False)
    algorithms: frozenset[str] = frozenset({"RS256", "PS256", "ES256"})
    max_lifetime: float = 86400.0


def _plain(reason: str, detail: str) -> str:
    return f"client assertion refused ({reason}): {detail}"


def check_federated_assertion(
    emulator: TokenEmulator,
    exchange: Exchange,
    params: Sequence[tuple[str, str]],
    credentials: Iterable[FederatedCredential],
    *,
    refuse_replay: bool = True,
    wording: Wording = _plain,
) -> Verdict:
    """Authenticate a federated ``client_assertion``: type, client, signature, claims, replay."""

    def refused(reason: str, detail: str) -> Verdict:
        return None, METHOD, Personality.refusal(401, "invalid_client", wording(reason, detail))

    if exchange.param("client_assertion_type", params) != ASSERTION_TYPE:
        return refused("type", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = exchange.param("client_assertion", params) or ""
    client_id = exchange.param("client_id", params)
    mine = [c for c in credentials if client_id is None or c.client_id == client_id]
    if not mine:
        return refused("client", f"no federated credential for client {client_id!r}")
    failure: AssertionError_ | None = None
    for credential in mine:
        try:
            verified = verify_grant_assertion(
                assertion,
                key=load_public_key(credential.public_key),
                issuer=credential.issuer,
                audiences={credential.audience},
                algorithms=credential.algorithms,
                max_lifetime=credential.max_lifetime,
                leeway=0.0,
            )
        except AssertionError_ as error:
            failure = error
            continue
        if verified.claims.get("sub") != credential.subject:
            failure = AssertionError_("sub is not the federated subject", reason="subject")
            continue
        client = emulator.find_client(credential.client_id)
        if client is None:
            return refused("client", f"client {credential.client_id!r} is not registered")
        jti = verified.claims.get("jti")
        if refuse_replay and (not isinstance(jti, str) or not emulator.first_use(jti)):
            return refused("replay", "the assertion's jti is missing or was already used")
        return client, METHOD, None
    assert failure is not None
    reason = {"claims": "issuer"}.get(failure.reason, failure.reason)
    return refused(reason, str(failure))


class FederatedPersonality(Personality):
    """A server that authenticates clients by federated assertions (and secrets as usual).

    Args:
        credentials: The federated credentials registered.
        refuse_replay: Refuse an assertion whose ``jti`` was seen before (on by default;
            Entra accepts the same projected token until it expires).
    """

    name: ClassVar[str] = "federated"

    def __init__(
        self, credentials: Iterable[FederatedCredential] = (), *, refuse_replay: bool = True
    ) -> None:
        self.credentials = list(credentials)
        self.refuse_replay = refuse_replay

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """A ``client_assertion`` as a federated credential; any other method as usual."""
        params = self.parameters(exchange)
        if exchange.param("client_assertion", params) is None and (
            exchange.param("client_assertion_type", params) is None
        ):
            return super().authenticate(emulator, exchange)
        return check_federated_assertion(
            emulator, exchange, params, self.credentials, refuse_replay=self.refuse_replay
        )
