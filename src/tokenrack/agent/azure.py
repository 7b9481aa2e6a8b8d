"""Azure managed identity, App Service protocol (``api-version=2019-08-01``), at ``/msi/token``.

What azure-identity's ``ManagedIdentityCredential`` sends when ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` are set (through MSAL's managed identity client): ``GET`` with
``resource`` and ``api-version`` in the query and the ``X-IDENTITY-HEADER`` secret; it reads
``access_token`` and ``expires_on`` (epoch seconds) from the answer.
"""

from __future__ import annotations

from aiohttp import web

from tokenrack.agent.access import RequestRefusedError, secret_matches
from tokenrack.agent.fetch import STATE, token_for

__all__ = ["routes"]

routes = web.RouteTableDef()

_USER_ASSIGNED = ("client_id", "mi_res_id", "object_id", "principal_id")


@routes.get("/msi/token")
async def msi_token(request: web.Request) -> web.StreamResponse:
    """A token for ``resource``, from the profile the config maps it to."""
    state = request.app[STATE]
    settings = state.settings
    if state.azure_header is None:
        raise RequestRefusedError(404, "not_found", "the Azure endpoint is not configured")
    if not secret_matches(request.headers.get("X-IDENTITY-HEADER"), state.azure_header):
        raise RequestRefusedError(401, "unauthorized", "X-IDENTITY-HEADER is missing or wrong")
    if request.query.get("api-version") != "2019-08-01":
        raise RequestRefusedError(400, "bad_request", "api-version must be 2019-08-01")
    if any(key in request.query for key in _USER_ASSIGNED):
        raise RequestRefusedError(
            400, "bad_request", "user-assigned identities are not served: map the resource"
        )
    resource = request.query.get("resource", "")
    profile = settings.azure_resources.get(resource) or settings.azure_resources.get(
        resource.rstrip("/")
    )
    if profile is None:
        raise RequestRefusedError(404, "not_found", f"no profile for resource {resource!r}")
    found = await token_for(request, profile, authenticated=True)
    return web.json_response(
        {
            "access_token": found.access_token,
            "expires_on": str(int(found.expires_at)),
            "resource": resource,
            "token_type": found.token_type,
            "client_id": settings.azure_client_id,
        }
    )
