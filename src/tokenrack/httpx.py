"""``BearerAuth`` for httpx, sync and async: ``httpx.Client(auth=BearerAuth("billing"))``.

The same behaviour as :class:`tokenrack.BearerAuth` for requests: the profile's token in
``Authorization``; on a 401 the rejected token is invalidated (only if it is still the
cached one, so a burst of 401s causes one refresh), a fresh one is obtained, and the request
is sent once more. A second 401 is returned as it is. A DPoP-bound token goes as
``Authorization: DPoP …`` with a fresh proof per request, and a ``use_dpop_nonce`` challenge
is answered once with the server's nonce (the token kept). Needs ``tokenrack[httpx]``; the only
module that imports httpx.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx

from tokenrack.core.bearer_auth import TokenSource
from tokenrack.token import Token

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry

__all__ = ["BearerAuth"]


class BearerAuth(httpx.Auth):
    """httpx authentication with a tokenrack profile's token, for sync and async clients.

    Args:
        profile: The profile whose token to use.
        registry: The registry to use; the default registry when omitted.

    Raises:
        ProfileNotFoundError: The registry given, or the default one if already loaded, has
            no such profile.
    """

    # The body is read before the first send, so the request can be sent a second time.
    requires_request_body = True

    def __init__(self, profile: str, *, registry: Registry | None = None) -> None:
        self.profile = profile
        self._source = TokenSource(profile, registry)

    def __repr__(self) -> str:
        return f"BearerAuth(profile={self.profile!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the token; on a 401, once more with a fresh one."""
        token = self._source.get()
        request.headers.update(self._headers(token, request))
        response = yield request
        if response.status_code == 401:
            if not self._challenge(token, request, response):
                self._source.rejected(token)
                token = self._source.get()
            request.headers.update(self._headers(token, request))
            response = yield request
        self._challenge(token, request, response)  # learn a nonce the answer carries

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """:meth:`sync_auth_flow` for ``httpx.AsyncClient``, never blocking the loop."""
        token = await self._source.aget()
        request.headers.update(self._headers(token, request))
        response = yield request
        if response.status_code == 401:
            if not self._challenge(token, request, response):
                self._source.rejected(token)
                token = await self._source.aget()
            request.headers.update(self._headers(token, request))
            response = yield request
        self._challenge(token, request, response)  # learn a nonce the answer carries

    def _headers(self, token: Token, request: httpx.Request) -> dict[str, str]:
        return self._source.headers(token, request.method, str(request.url))

    def _challenge(self, token: Token, request: httpx.Request, response: httpx.Response) -> bool:
        """Learn a DPoP nonce; True for a ``use_dpop_nonce`` challenge (the token is kept)."""
        return self._source.nonce_challenge(
            token, str(request.url), response.status_code, response.headers
        )
