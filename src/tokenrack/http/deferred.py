"""The requests transport, imported and built at the first send (not at registry creation).

A process whose tokens all come from a shared cache (a CLI call on a warm file cache) then
never imports requests.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tokenrack.oauth.message import EncodedRequest, HttpResponse
    from tokenrack.oauth.transport import Transport, TransportOptions

__all__ = ["DeferredTransport"]


class DeferredTransport:
    """A :class:`~tokenrack.oauth.transport.Transport` building the requests one at first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inner: Transport | None = None

    def __repr__(self) -> str:
        return f"DeferredTransport(built={self._inner is not None})"

    def send(
        self, request: EncodedRequest, *, options: TransportOptions, sent_at: float
    ) -> HttpResponse:
        """Send through the requests transport, building it first if needed.

        Raises:
            TransportError: As the requests transport does.
        """
        with self._lock:
            if self._inner is None:
                from tokenrack.http.requests_transport import RequestsTransport

                self._inner = RequestsTransport()
            inner = self._inner
        return inner.send(request, options=options, sent_at=sent_at)

    def close(self) -> None:
        """Close the requests transport, if one was built (a later send builds a new one)."""
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()
