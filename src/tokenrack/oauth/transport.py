"""The transport seam: what the core asks of an HTTP client, and the settings it passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tokenrack.oauth.message import EncodedRequest, HttpResponse
from tokenrack.secret.value import Secret

__all__ = ["MAX_BODY_BYTES", "ClientCertificate", "Transport", "TransportOptions"]

MAX_BODY_BYTES = 1024 * 1024
"""Token answers are read up to 1 MiB; a longer one is refused and its connection closed."""


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate for mutual TLS (RFC 8705), as files the TLS library can load.

    Attributes:
        cert_path: PEM file of the certificate (and any intermediates).
        key_path: PEM file of its private key.
        key_password: The key's passphrase when it is encrypted.
    """

    cert_path: str
    key_path: str
    key_password: Secret | None = None


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Per-profile settings for sending a token request.

    Attributes:
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds to wait for each read of the answer.
        verify: True (system/certifi CAs), False (no verification; discouraged), or a
            CA bundle path. It wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.
        proxies: Proxies by scheme; an empty mapping: no proxy. None uses the ``*_PROXY``
            environment variables, except for plain http to a loopback host, which is
            always sent directly (a proxy would take its credentials off the host).
        client_cert: The client certificate for mutual TLS, if the request needs one.
        max_body: The largest answer read, in bytes.
        deadline: Seconds this one send may take in all: connecting, sending and reading
            the whole answer, however slowly it comes. A transport cuts the request off
            when they run out and raises ``TransportError("deadline", …)``. Set per send
            from the fetch's remaining budget (:attr:`tokenrack.oauth.flow.Send.time_left`);
            None: only the timeouts bound it.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    verify: bool | str = True
    proxies: Mapping[str, str] | None = None
    client_cert: ClientCertificate | None = None
    max_body: int = MAX_BODY_BYTES
    deadline: float | None = None


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
            TransportError: No complete answer arrived; kind ``deadline`` when
                ``options.deadline`` ran out first.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
