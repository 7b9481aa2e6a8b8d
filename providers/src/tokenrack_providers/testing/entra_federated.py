"""Entra's federated credentials (workload identity), worded as Entra words its refusals.

An app registration trusts an external issuer for one subject and audience (a "federated
identity credential"); the workload sends that issuer's token as ``client_assertion``.
Entra accepts the same token until it expires (no ``jti`` replay check: the kubelet hands
every container in a pod the same file), and says ``AADSTS700024`` for an expired one, the
error the read-once bugs of six projects ended in (docs/providers/azure.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenrack.testing.emulator import TokenEmulator
from tokenrack.testing.federated import FederatedCredential, check_federated_assertion
from tokenrack.testing.personality import Exchange, Verdict

__all__ = ["check_entra_federated", "entra_wording"]


def entra_wording(reason: str, detail: str) -> str:
    """The AADSTS description Entra is reported to give for each kind of refusal."""
    if reason == "lifetime":
        return f"AADSTS700024: Client assertion is not within its valid time range. ({detail})"
    if reason in {"issuer", "subject", "audience"}:
        return (
            "AADSTS70021: No matching federated identity record found for presented "
            f"assertion. ({detail})"
        )
    if reason == "signature":
        return (
            "AADSTS700212: No matching federated identity record found for presented "
            f"assertion audience or signing key. ({detail})"
        )
    if reason == "type":
        return f"AADSTS50027: Invalid JWT token. {detail}"
    return f"AADSTS50027: Invalid JWT token. ({detail})"


def check_entra_federated(
    emulator: TokenEmulator,
    exchange: Exchange,
    params: Sequence[tuple[str, str]],
    credentials: Iterable[FederatedCredential],
) -> Verdict:
    """A federated ``client_assertion`` as Entra checks it (no replay check)."""
    return check_federated_assertion(
        emulator, exchange, params, credentials, refuse_replay=False, wording=entra_wording
    )
