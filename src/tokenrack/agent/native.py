"""The native API: ``/v1/token/{profile}``, ``/v1/profiles``, ``/healthz``, ``/metrics``."""

from __future__ import annotations

import math
import time

from aiohttp import web

from tokenrack.agent.access import Caller, RequestRefusedError, bearer_of, may_use, secret_matches
from tokenrack.agent.fetch import METRICS, STATE, token_for

__all__ = ["routes"]

routes = web.RouteTableDef()


def _authenticated(request: web.Request) -> bool:
    """Whether a TCP caller presented the agent's bearer (unix callers need none)."""
    caller: Caller = request["caller"]
    if not caller.tcp:
        return True
    return secret_matches(bearer_of(request.headers), request.app[STATE].tcp_token)


def _min_ttl(request: web.Request) -> float | None:
    raw = request.query.get("min_ttl")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise RequestRefusedError(
            400, "bad_request", "min_ttl must be a number of seconds, 0 or more"
        )
    return value


@routes.get("/v1/token/{profile}")
async def token(request: web.Request) -> web.StreamResponse:
    """A profile's token as JSON, or alone with ``?format=raw``."""
    shape = request.query.get("format", "json")
    if shape not in {"json", "raw"}:
        raise RequestRefusedError(400, "bad_request", "format must be json or raw")
    found = await token_for(
        request,
        request.match_info["profile"],
        authenticated=_authenticated(request),
        min_ttl=_min_ttl(request),
    )
    if shape == "raw":
        return web.Response(text=found.access_token, content_type="text/plain")
    return web.json_response(
        {
            "access_token": found.access_token,
            "token_type": found.token_type,
            "expires_in": max(0, int(found.expires_at - time.time())),
            "expires_at": int(found.expires_at),
            "scope": " ".join(found.scopes),
        }
    )


@routes.get("/v1/profiles")
async def profiles(request: web.Request) -> web.StreamResponse:
    """The profiles this caller may ask for (none are named to a TCP caller without bearer)."""
    caller: Caller = request["caller"]
    authenticated = _authenticated(request)
    if caller.tcp and not authenticated:
        raise RequestRefusedError(401, "unauthorized", "present the agent's bearer")
    settings = request.app[STATE].settings
    names = [
        name
        for name, access in settings.profiles.items()
        if may_use(caller, access, authenticated=authenticated)
    ]
    return web.json_response({"profiles": names})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness: the agent answers (no token is fetched, no profile is named)."""
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text: requests, cache hits, fetches and failures, per profile."""
    if not _authenticated(request):
        raise RequestRefusedError(401, "unauthorized", "present the agent's bearer")
    state = request.app[STATE]
    text = request.app[METRICS].render(state.stats())
    return web.Response(text=text, content_type="text/plain", charset="utf-8")
