"""Google Compute Engine metadata, the paths google-auth's compute credentials read.

``GCE_METADATA_HOST`` points google-auth at the agent. It sends ``Metadata-Flavor: Google``
and reads ``instance/service-accounts/default/?recursive=true`` (the account's e-mail and
scopes), then ``instance/service-accounts/default/token`` (``?scopes=a,b`` when it has
scopes), and for the universe domain ``universe/universe-domain``. Every answer carries
``Metadata-Flavor: Google``, which is how clients recognise a metadata server.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tokenrack.agent.access import RequestRefusedError
from tokenrack.agent.fetch import STATE, token_for
from tokenrack.agent.settings import AgentSettings

__all__ = ["routes"]

routes = web.RouteTableDef()

_ROOT = "/computeMetadata/v1"
_FLAVOR = {"Metadata-Flavor": "Google"}


def _check(request: web.Request) -> AgentSettings:
    settings = request.app[STATE].settings
    if not settings.google:
        raise RequestRefusedError(
            404, "not_found", "the Google metadata endpoint is not configured"
        )
    if request.headers.get("Metadata-Flavor") != "Google":
        raise RequestRefusedError(403, "forbidden", "the Metadata-Flavor: Google header is missing")
    return settings


def _account(request: web.Request, settings: AgentSettings) -> None:
    if request.match_info["account"] not in {"default", settings.google_email}:
        raise RequestRefusedError(404, "not_found", "no such service account")


def _default_scopes(settings: AgentSettings) -> list[str]:
    return [s for s, p in settings.google_scopes.items() if p == settings.google_default]


def _profile(settings: AgentSettings, scopes: str | None) -> str:
    if not scopes:
        if settings.google_default is None:
            raise RequestRefusedError(404, "not_found", "no default profile: ask with ?scopes=")
        return settings.google_default
    asked = [s for s in scopes.split(",") if s]
    profiles = {settings.google_scopes.get(s) for s in asked}
    if len(profiles) != 1 or None in profiles:
        raise RequestRefusedError(404, "not_found", "these scopes map to no single profile")
    (profile,) = profiles
    assert profile is not None
    return profile


def _json(body: Any) -> web.Response:
    return web.json_response(body, headers=_FLAVOR)


@routes.get("/")
@routes.get(_ROOT)
@routes.get(_ROOT + "/")
async def ping(request: web.Request) -> web.StreamResponse:
    """The root a client pings to detect a metadata server."""
    _check(request)
    return web.Response(text="computeMetadata/\n", headers=_FLAVOR)


@routes.get(_ROOT + "/instance/service-accounts/{account}/")
async def account(request: web.Request) -> web.StreamResponse:
    """The service account's e-mail, aliases and scopes (``?recursive=true``)."""
    settings = _check(request)
    _account(request, settings)
    return _json(
        {
            "aliases": ["default"],
            "email": settings.google_email,
            "scopes": _default_scopes(settings),
        }
    )


@routes.get(_ROOT + "/instance/service-accounts/{account}/email")
async def email(request: web.Request) -> web.StreamResponse:
    """The service account's e-mail, as text."""
    settings = _check(request)
    _account(request, settings)
    return web.Response(text=settings.google_email, headers=_FLAVOR)


@routes.get(_ROOT + "/universe/universe-domain")
async def universe(request: web.Request) -> web.StreamResponse:
    """The universe domain: the public one."""
    _check(request)
    return web.Response(text="googleapis.com", headers=_FLAVOR)


@routes.get(_ROOT + "/instance/service-accounts/{account}/token")
async def token(request: web.Request) -> web.StreamResponse:
    """A token from the profile the asked scopes (or the default) map to."""
    settings = _check(request)
    _account(request, settings)
    profile = _profile(settings, request.query.get("scopes"))
    found = await token_for(request, profile, authenticated=True)
    return _json(
        {
            "access_token": found.access_token,
            "expires_in": max(0, int(found.expires_at - time.time())),
            "token_type": found.token_type,
        }
    )
