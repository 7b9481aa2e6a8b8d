"""A server's ``Retry-After``, remembered per token endpoint: pure bookkeeping, no I/O.

When a token endpoint answers 429 or 503 with a ``Retry-After`` (or a 429 with
``X-RateLimit-Reset``) longer than the profile's ``max_backoff``, waiting inside the
fetch would be capped and the next request would come too early; and a caller with
nothing cached would send one more request each. MSAL's throttled HTTP client does the
same: it remembers the answer until the time the server named has passed.

:class:`EndpointThrottle` holds, per token URL, the monotonic time before which no request
is sent. The registry keeps one for all its profiles, so every profile that uses that
endpoint (whatever its cache key) waits out the same window; :mod:`tokenrack.oauth.flow`
consults it before each request and records each long wait it is asked for. It lives in
one process: across processes, each one learns the window from its own first answer (see
docs/failures.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["EndpointThrottle"]


class EndpointThrottle:
    """Token URLs that asked for a wait, and until when (monotonic seconds).

    Args:
        monotonic: The core's monotonic clock (a FakeClock's in tests).
    """

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EndpointThrottle(endpoints={len(self._until)})"

    def hold(self, url: str, seconds: float) -> None:
        """Send nothing to ``url`` for ``seconds`` from now (a longer hold is kept)."""
        until = self._monotonic() + max(0.0, seconds)
        with self._lock:
            if until > self._until.get(url, 0.0):
                self._until[url] = until

    def remaining(self, url: str) -> float | None:
        """Seconds left before ``url`` may be asked again, or None when it may be now."""
        until = self._until.get(url)
        if until is None:
            return None
        left = until - self._monotonic()
        if left > 0:
            return left
        with self._lock:
            if self._until.get(url) == until:
                del self._until[url]
        return None
