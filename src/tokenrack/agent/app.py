"""The agent's aiohttp application: every request identified, checked, answered and logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from tokenrack.agent import azure, google, native
from tokenrack.agent.access import RequestRefusedError, browser_refusal, caller_of
from tokenrack.agent.fetch import FORCED, METRICS, STATE
from tokenrack.agent.metrics import AgentMetrics
from tokenrack.agent.state import AgentState

__all__ = ["build_app"]

log = logging.getLogger("tokenrack.agent")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(refusal: RequestRefusedError) -> web.Response:
    return web.json_response(
        {"error": refusal.error, "message": refusal.message}, status=refusal.status
    )


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Identify the caller, refuse browsers, turn refusals into JSON, log one line."""
    started = time.perf_counter()
    caller_label = "?"
    try:
        transport = request.transport
        caller = caller_of(transport.get_extra_info("socket") if transport else None)
        caller_label = caller.label
        request["caller"] = caller
        if log.isEnabledFor(logging.DEBUG):
            # Header names only: their values may be the bearer or the identity secret.
            log.debug(
                "caller=%s pid=%s %s %s headers=%s",
                caller_label,
                caller.pid if caller.pid is not None else "-",
                request.method,
                request.path,
                ",".join(sorted(request.headers)),
            )
        refusal = browser_refusal(request.headers, caller)
        if refusal is not None:
            raise refusal
        response = await handler(request)
        outcome = "ok"
    except RequestRefusedError as refusal:
        response = _error(refusal)
        outcome = refusal.error
    except web.HTTPException as http:
        outcome = "not_found" if http.status == 404 else "bad_request"
        response = _error(RequestRefusedError(http.status, outcome, http.reason))
    except Exception as error:  # never a traceback (or what it holds) to a caller
        log.error("agent: %s while answering %s", type(error).__name__, request.path)
        response = _error(RequestRefusedError(500, "failed", "the agent failed; see its log"))
        outcome = "failed"
    response.headers["Cache-Control"] = "no-store"
    log.info(
        "caller=%s profile=%s path=%s outcome=%s status=%d duration_ms=%.1f",
        caller_label,
        request.get("profile", "-"),
        request.path,
        outcome,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


def build_app(state: AgentState) -> web.Application:
    """The application for ``state``: the native API and the compatible endpoints.

    Args:
        state: The config and registries in force.
    """
    app = web.Application(middlewares=[_guard], client_max_size=8192)
    app[STATE] = state
    app[METRICS] = AgentMetrics()
    app[FORCED] = {}
    app.add_routes(native.routes)
    app.add_routes(azure.routes)
    app.add_routes(google.routes)
    return app
