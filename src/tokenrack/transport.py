"""The transport seam: what the core asks of an HTTP client, and the settings it passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tokenrack.message import EncodedRequest, HttpResponse

__all__ = ["MAX_BODY_BYTES", "Transport", "TransportOptions"]

MAX_BODY_BYTES = 1024 * 1024
"""Token answers are read up to 1 MiB; a longer one is refused and its connection closed."""


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Per-profile settings for sending a token request.

    Attributes:
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds to wait for each read of the answer.
        verify: True (system/certifi CAs), False (no verification; discouraged), or a
            CA bundle path. It wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.
        proxies: Proxies by scheme; None uses the ``*_PROXY`` environment variables.
        client_cert: A (certificate, key) pair of file paths for mutual TLS, if any.
        max_body: The largest answer read, in bytes.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    verify: bool | str = True
    proxies: Mapping[str, str] | None = None
    client_cert: tuple[str, str] | None = field(default=None, repr=False)
    max_body: int = MAX_BODY_BYTES


class Transport(Protocol):
    """Sends one encoded request and reads one answer; never retries or follows redirects."""

    def send(
        self, request: EncodedRequest, *, options: TransportOptions, sent_at: float
    ) -> HttpResponse:
        """Send ``request`` once.

        Args:
            request: The wire request.
            options: Timeouts, TLS and proxy settings.
            sent_at: The epoch time to record as the moment of sending.

        Raises:
            TransportError: No complete answer arrived.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
