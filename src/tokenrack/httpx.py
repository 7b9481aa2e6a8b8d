"""``BearerAuth`` for httpx, sync and async: ``httpx.Client(auth=BearerAuth("billing"))``.

The same behaviour as :class:`tokenrack.BearerAuth` for requests: the profile's token in
``Authorization``; on a 401 the rejected token is invalidated (only if it is still the
cached one, so a burst of 401s causes one refresh), a fresh one is obtained, and the request
is sent once more. A second 401 is returned as it is. Needs ``tokenrack[httpx]``; the only
module that imports httpx.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry
    from tokenrack.token import Token

__all__ = ["BearerAuth"]


class BearerAuth(httpx.Auth):
    """httpx authentication with a tokenrack profile's token, for sync and async clients.

    Args:
        profile: The profile whose token to use.
        registry: The registry to use; the default registry when omitted.
    """

    # The body is read before the first send, so the request can be sent a second time.
    requires_request_body = True

    def __init__(self, profile: str, *, registry: Registry | None = None) -> None:
        self.profile = profile
        self._registry = registry

    def __repr__(self) -> str:
        return f"BearerAuth(profile={self.profile!r})"

    def _sync_registry(self) -> Registry:
        if self._registry is not None:
            return self._registry
        from tokenrack.core.default import default_registry

        return default_registry()

    async def _async_registry(self) -> Registry:
        if self._registry is not None:
            return self._registry
        import asyncio

        from tokenrack.core.default import default_registry

        return await asyncio.to_thread(default_registry)

    def _rejected(self, registry: Registry, response: httpx.Response, token: Token) -> bool:
        """Whether ``token`` was refused (and then dropped from the cache, if still there)."""
        if response.status_code != 401:
            return False
        registry.invalidate(self.profile, token=token, reason="401")
        return True

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the token; on a 401, once more with a fresh one."""
        registry = self._sync_registry()
        token = registry.get_token(self.profile)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if self._rejected(registry, response, token):
            request.headers["Authorization"] = registry.get_token(self.profile).authorization
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """:meth:`sync_auth_flow` for ``httpx.AsyncClient``, never blocking the loop."""
        registry = await self._async_registry()
        token = await registry.aget_token(self.profile)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if self._rejected(registry, response, token):
            request.headers["Authorization"] = (
                await registry.aget_token(self.profile)
            ).authorization
            yield request
