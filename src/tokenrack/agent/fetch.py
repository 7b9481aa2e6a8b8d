"""A profile's token for one request: who may have it, from which registry, how fresh."""

from __future__ import annotations

import time

from aiohttp import web

from tokenrack.agent.access import Caller, RequestRefusedError, may_use
from tokenrack.agent.metrics import AgentMetrics
from tokenrack.agent.state import AgentState
from tokenrack.agent.status import status_of
from tokenrack.errors import TokenrackError
from tokenrack.token import Token

__all__ = ["FORCED", "METRICS", "MIN_TTL_INTERVAL", "STATE", "token_for"]

STATE = web.AppKey("state", AgentState)
METRICS = web.AppKey("metrics", AgentMetrics)
FORCED = web.AppKey("forced", dict[str, float])
"""When (monotonic) each profile was last refreshed for a caller's ``min_ttl``."""

MIN_TTL_INTERVAL = 5.0
"""Seconds between two refreshes a caller's ``min_ttl`` may force, per profile.

Without it, a caller asking for more time than the server's tokens ever have would send a
token request per call: any allowed caller could turn the agent against the endpoint.
"""


async def token_for(
    request: web.Request,
    profile: str,
    *,
    authenticated: bool,
    min_ttl: float | None = None,
) -> Token:
    """The token of ``profile`` for the caller of ``request``, or the refusal to send.

    A profile the agent does not serve and one the caller may not use get the same 404,
    so a caller learns nothing of profiles it may not have.

    Args:
        request: The request (its caller is ``request["caller"]``).
        profile: The profile asked for.
        authenticated: For a TCP caller, whether it presented the right secret.
        min_ttl: Refresh first if the cached token has fewer seconds left (at most once
            per :data:`MIN_TTL_INTERVAL` per profile; the token is then served as it is).

    Raises:
        RequestRefusedError: Not served, not allowed, or the token cannot be obtained.
    """
    state = request.app[STATE]
    caller: Caller = request["caller"]
    request["profile"] = profile
    access = state.settings.profiles.get(profile)
    registry = state.registry(profile)
    if (
        access is None
        or registry is None
        or not may_use(caller, access, authenticated=authenticated)
    ):
        if caller.tcp and not authenticated:
            raise RequestRefusedError(
                401, "unauthorized", "present the agent's bearer or header secret"
            )
        raise RequestRefusedError(404, "not_found", f"no profile {profile!r} for this caller")
    metrics = request.app[METRICS]
    try:
        if registry.runtime(profile).dpop is not None:
            # A DPoP-bound token is useless without the key that proves it, and the agent
            # hands out tokens, not keys or proofs.
            raise RequestRefusedError(
                501,
                "dpop_not_served",
                f"profile {profile!r} uses DPoP: its tokens are bound to a key the caller "
                "does not hold, so the agent does not serve them",
            )
        token = await registry.aget_token(profile)
        if min_ttl is not None and token.expires_in() < min_ttl:
            forced = request.app[FORCED]
            now = time.monotonic()
            if now - forced.get(profile, -MIN_TTL_INTERVAL) >= MIN_TTL_INTERVAL:
                forced[profile] = now
                token = await registry.aget_token(profile, force_refresh=True)
    except TokenrackError as error:
        status, code = status_of(error)
        metrics.count(profile, code)
        # TokenrackError messages never hold a secret or a token (the leak guard's promise).
        raise RequestRefusedError(status, code, str(error)) from None
    metrics.count(profile, "ok")
    return token
