"""The emulator's checks of an authenticated client-credentials request (RFC 6749 §4.4).

Each check returns the refusal it finds, or None: the grant type (§4.4.2, §5.2
``unsupported_grant_type``), the scopes (§3.3, ``invalid_scope``) and the audience
(RFC 8707-style ``audience``; ``access_denied`` when not allowed).
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenrack.testing.values import Answer, EmulatorClient, error_answer

__all__ = ["audience_refusal", "grant_type_refusal", "param", "refusal", "scope_refusal"]


def param(params: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of ``name`` in ``params``, or None."""
    return next((v for k, v in params if k == name), None)


def grant_type_refusal(client: EmulatorClient, params: Sequence[tuple[str, str]]) -> Answer | None:
    """A missing grant type, or one the client may not use."""
    grant_type = param(params, "grant_type")
    if grant_type is None:
        return error_answer(400, "invalid_request", "grant_type is missing")
    if grant_type not in client.grant_types:
        return error_answer(
            400, "unsupported_grant_type", f"grant_type {grant_type} is not supported"
        )
    return None


def scope_refusal(client: EmulatorClient, scopes: Sequence[str]) -> Answer | None:
    """Scopes the client may not ask for."""
    if client.scopes is None or set(scopes) <= client.scopes:
        return None
    unknown = sorted(set(scopes) - client.scopes)
    return error_answer(400, "invalid_scope", f"scope not allowed: {' '.join(unknown)}")


def audience_refusal(client: EmulatorClient, audience: str | None) -> Answer | None:
    """A missing audience the client must name, or one it may not ask for."""
    if audience is None:
        if client.require_audience:
            return error_answer(400, "invalid_request", "audience is required")
        return None
    if client.audiences is not None and audience not in client.audiences:
        return error_answer(403, "access_denied", f"audience {audience} is not allowed")
    return None


def refusal(client: EmulatorClient, params: Sequence[tuple[str, str]]) -> Answer | None:
    """The first refusal of the three checks, in the order a server makes them, or None."""
    return (
        grant_type_refusal(client, params)
        or scope_refusal(client, (param(params, "scope") or "").split())
        or audience_refusal(client, param(params, "audience"))
    )
