"""``BearerAuth``: a requests auth that adds a profile's token and survives one 401.

requests is not imported here: requests accepts any callable as ``auth``, and the hooks
used are part of its public API. :class:`TokenSource` is the part both bearer auths share
(this one and :class:`tokenrack.httpx.BearerAuth`): where tokens come from, and what a 401
does to the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tokenrack.auth.dpop import is_nonce_challenge
from tokenrack.token import Token

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

    from tokenrack.core.registry import Registry

__all__ = ["BearerAuth", "TokenSource"]

_RETRIED = "_tokenrack_retried"


class TokenSource:
    """A profile's tokens for a bearer auth: from a given registry, or the default one.

    A misspelled profile is refused at construction when the registry is at hand: the one
    given, or the default one once it is loaded. Otherwise (no config read yet, and none is
    read here) the first request raises the same error.

    Args:
        profile: The profile whose token to use.
        registry: The registry to use; the default registry (looked up at each use, so
            :func:`tokenrack.configure` takes effect) when omitted.

    Raises:
        ProfileNotFoundError: The registry at hand has no such profile ("did you mean").
    """

    __slots__ = ("_registry", "profile")

    def __init__(self, profile: str, registry: Registry | None = None) -> None:
        self.profile = profile
        self._registry = registry
        if registry is None:
            from tokenrack.core.default import loaded_registry

            registry = loaded_registry()
        if registry is not None:
            registry.config.profile(profile)  # raises ProfileNotFoundError, with a suggestion

    def __repr__(self) -> str:
        return f"TokenSource(profile={self.profile!r})"

    def registry(self) -> Registry:
        """The registry tokens come from (building the default one if needed).

        Raises:
            ConfigError: No registry was given and no default config is usable.
        """
        if self._registry is not None:
            return self._registry
        from tokenrack.core.default import default_registry

        return default_registry()

    async def aregistry(self) -> Registry:
        """:meth:`registry` for coroutines: the default one is built in a worker thread.

        Raises:
            ConfigError: No registry was given and no default config is usable.
        """
        if self._registry is not None:
            return self._registry
        import asyncio

        from tokenrack.core.default import default_registry

        # Building the default registry reads the config file: not on the event loop.
        return await asyncio.to_thread(default_registry)

    def get(self) -> Token:
        """The profile's token (cached, or fetched now).

        Raises:
            The errors of :meth:`Registry.get_token`.
        """
        return self.registry().get_token(self.profile)

    async def aget(self) -> Token:
        """:meth:`get` for coroutines, never blocking the event loop.

        Raises:
            The errors of :meth:`Registry.aget_token`.
        """
        return await (await self.aregistry()).aget_token(self.profile)

    def headers(self, token: Token, method: str, url: str) -> dict[str, str]:
        """The headers that present ``token`` for ``method url``.

        ``Authorization: Bearer …``; for a DPoP-bound token (``token_type: DPoP``),
        ``Authorization: DPoP …`` and a fresh ``DPoP`` proof with ``ath`` (RFC 9449 §7).
        """
        headers = {"Authorization": token.authorization}
        if token.token_type.lower() == "dpop":
            headers["DPoP"] = self.registry().dpop_proof(
                self.profile, method, url, access_token=token.access_token
            )
        return headers

    def nonce_challenge(
        self, token: Token, url: str, status: int, headers: Mapping[str, str]
    ) -> bool:
        """Learn a resource server's ``DPoP-Nonce``; True when its answer asks for it.

        A 401 with ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` (RFC 9449 §9) is
        answered by the same token with a proof carrying the nonce: nothing is invalidated.
        """
        if token.token_type.lower() != "dpop":
            return False
        nonce = next((v for k, v in headers.items() if k.lower() == "dpop-nonce"), None)
        dpop = self.registry().runtime(self.profile).dpop
        if nonce and dpop is not None:
            dpop.nonces.remember(url, nonce)
        return is_nonce_challenge(status, headers)

    def rejected(self, token: Token) -> None:
        """The API answered 401 to ``token``: drop it, if it is still the cached one.

        Only that token is dropped, so a burst of 401s for it causes one refresh; the next
        :meth:`get` or :meth:`aget` fetches a new one.
        """
        self.registry().invalidate(self.profile, token=token, reason="401")


class BearerAuth:
    """Authenticate requests with a profile's token: ``session.auth = BearerAuth("billing")``.

    On a 401 from the API, the token that was rejected is invalidated (only if it is still
    the cached one, so many concurrent 401s cause one refresh), a fresh token is obtained,
    and the request is sent once more. A second 401 is returned to the caller as is.

    A DPoP-bound token (a profile with ``dpop: true``) goes as ``Authorization: DPoP …``
    with a fresh proof per request; a 401 ``use_dpop_nonce`` challenge is answered once
    with a proof carrying the server's nonce, keeping the token.

    Args:
        profile: The profile whose token to use.
        registry: The registry to use; the default registry when omitted.

    Raises:
        ProfileNotFoundError: The registry given, or the default one if already loaded, has
            no such profile (see :class:`TokenSource`).
    """

    def __init__(self, profile: str, *, registry: Registry | None = None) -> None:
        self.profile = profile
        self._source = TokenSource(profile, registry)

    def __repr__(self) -> str:
        return f"BearerAuth(profile={self.profile!r})"

    def registry(self) -> Registry:
        """The registry tokens come from."""
        return self._source.registry()

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        """Set ``Authorization`` and arm the 401 handler."""
        token = self._source.get()
        request.headers.update(self._source.headers(token, str(request.method), str(request.url)))
        request.register_hook(  # type: ignore[no-untyped-call]
            "response", functools.partial(self._on_response, token)
        )
        return request

    def _on_response(self, token: Token, response: Response, **kwargs: Any) -> Response:
        request = response.request
        url, method = str(request.url), str(request.method)
        challenge = self._source.nonce_challenge(token, url, response.status_code, response.headers)
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            return response  # a streamed body cannot be sent twice
        if challenge:
            fresh = token  # the token is fine; the proof lacked the server's nonce
        else:
            self._source.rejected(token)
            fresh = self._source.get()
        # Read and release the first answer so its connection can be reused.
        _ = response.content
        response.close()
        retry = request.copy()
        retry.headers.pop("DPoP", None)
        retry.headers.update(self._source.headers(fresh, method, url))
        setattr(retry, _RETRIED, True)
        connection = response.connection
        second: Response = connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
