"""``BearerAuth``: a requests auth that adds a profile's token and survives one 401.

requests is not imported here: requests accepts any callable as ``auth``, and the hooks
used are part of its public API.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from tokenrack.token import Token

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

    from tokenrack.core.registry import Registry

__all__ = ["BearerAuth"]

_RETRIED = "_tokenrack_retried"


class BearerAuth:
    """Authenticate requests with a profile's token: ``session.auth = BearerAuth("billing")``.

    On a 401 from the API, the token that was rejected is invalidated (only if it is still
    the cached one, so many concurrent 401s cause one refresh), a fresh token is obtained,
    and the request is sent once more. A second 401 is returned to the caller as is.

    Args:
        profile: The profile whose token to use.
        registry: The registry to use; the default registry when omitted.
    """

    def __init__(self, profile: str, *, registry: Registry | None = None) -> None:
        self.profile = profile
        self._registry = registry

    def __repr__(self) -> str:
        return f"BearerAuth(profile={self.profile!r})"

    def registry(self) -> Registry:
        """The registry tokens come from."""
        if self._registry is not None:
            return self._registry
        from tokenrack.core.default import default_registry

        return default_registry()

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        """Set ``Authorization`` and arm the 401 handler."""
        token = self.registry().get_token(self.profile)
        request.headers["Authorization"] = token.authorization
        request.register_hook(  # type: ignore[no-untyped-call]
            "response", functools.partial(self._on_response, token)
        )
        return request

    def _on_response(self, token: Token, response: Response, **kwargs: Any) -> Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            return response  # a streamed body cannot be sent twice
        registry = self.registry()
        registry.invalidate(self.profile, token=token, reason="401")
        fresh = registry.get_token(self.profile)
        # Read and release the first answer so its connection can be reused.
        _ = response.content
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = fresh.authorization
        setattr(retry, _RETRIED, True)
        connection = response.connection
        second: Response = connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
