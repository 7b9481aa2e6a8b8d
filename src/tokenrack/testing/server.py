"""The emulator's HTTP side: a threading server and the handler that answers each request.

The handler reads its emulator from ``self.server.emulator`` (the stdlib idiom), hands every
token-endpoint decision to the emulator's personality, and plays queued faults. Errors
while handling a request (most often a client that hung up mid-request, as deadline tests
make them do) are logged, never printed into the stderr of whatever program runs the
emulator.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket as socket_module
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tokenrack.testing.faults import act_out
from tokenrack.testing.personality import Exchange
from tokenrack.testing.values import PeerCertificate, RecordedRequest

if TYPE_CHECKING:
    from socket import socket

    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["EmulatorHandler", "EmulatorServer", "parse_body"]

logger = logging.getLogger(__name__)


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its emulator and logs handler errors.

    Args:
        address: The ``(host, port)`` to listen on.
        emulator: The emulator whose requests it serves.
    """

    # The default backlog of 5 resets connections when dozens of clients arrive at once,
    # which is exactly what stampede tests and benchmarks do.
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: TokenEmulator) -> None:
        self.emulator = emulator
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, so :meth:`server_close` can end it, then serve it."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and end every connection still open.

        Handler threads are daemons serving kept-alive connections; without this, a
        stopped emulator would go on answering a client that kept its connection, and a
        test of "the server went away" would get tokens instead.
        """
        super().server_close()
        with self._connections_lock:
            still_open = list(self._connections)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket_module.SHUT_RDWR)

    def handle_error(self, request: socket | tuple[bytes, socket], client_address: Any) -> None:
        """Log the error (socketserver's default prints a traceback to ``sys.stderr``).

        A client that goes away mid-request is expected (tests cut connections on
        purpose), so connection errors are logged at DEBUG; anything else is a bug in the
        emulator or a personality and is logged at WARNING with its traceback.
        """
        if isinstance(sys.exception(), OSError):
            logger.debug("emulator: client %s went away", client_address, exc_info=True)
        else:
            logger.warning("emulator: error while answering %s", client_address, exc_info=True)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests for ``self.server.emulator``."""

    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "tokenrack-emulator"
    # Headers and body in one segment, sent at once: otherwise Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every answer on a kept-alive connection.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Say nothing: tests read the recorded requests instead."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header's value, off by the emulator's ``date_offset`` seconds."""
        if timestamp is None:
            timestamp = time.time() + self.server.emulator.date_offset
        return super().date_time_string(timestamp)

    def do_GET(self) -> None:
        """Serve authorization server metadata (RFC 8414, OIDC discovery) if it is on."""
        path = urlsplit(self.path).path
        document = self.server.emulator.serve_metadata(path)
        self._log(path, None, "404 not_found" if document is None else "200 metadata")
        if document is None:
            self._send(404, {"error": "not_found"})
        else:
            self._send(200, document)

    def do_POST(self) -> None:
        """A token request: the personality decides, unless a queued fault does."""
        emulator = self.server.emulator
        exchange = self._exchange()
        personality = emulator.personality
        if not personality.serves(emulator, exchange.path):
            missing = personality.not_found(emulator, exchange)
            self._log(exchange.path, None, _outcome(missing.status, missing.body))
            self._send(missing.status, missing.body, missing.headers)
            return
        # Authenticated once per request: a replayed assertion must be the client's
        # doing, never the emulator's own second look.
        verdict = personality.authenticate(emulator, exchange)
        client, method, _ = verdict
        fault = emulator.record(
            RecordedRequest(
                method="POST",
                path=exchange.path,
                query=exchange.query,
                headers=exchange.headers,
                form=exchange.form,
                client_id=client.client_id if client else None,
                auth_method=method if client else None,
                received_at=time.monotonic(),
                client_certificate=exchange.peer.thumbprint if exchange.peer else None,
            )
        )
        emulator.hold()
        known = client.client_id if client else None
        # Logged before answering, so a reader who has the answer has the line too.
        if fault is not None:
            self._log(exchange.path, known, f"fault {fault.kind}")
            if act_out(self, fault, emulator):
                return
        answer = personality.answer(emulator, exchange, verdict)
        self._log(exchange.path, known, _outcome(answer.status, answer.body))
        self._send(answer.status, answer.body, answer.headers)

    def _log(self, path: str, client_id: str | None, outcome: str) -> None:
        """One line to the emulator's ``request_log``, if it has one.

        Only what cannot hold a secret: the method, the path without its query (vendors
        put parameters there), the client id once authenticated (a claimed id may be a
        secret pasted in the wrong place) and the outcome.
        """
        log = self.server.emulator.request_log
        if log is not None:
            log(f"{self.command} {path} client={client_id or '-'} -> {outcome}")

    def _exchange(self) -> Exchange:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = parse_body(raw, headers.get("content-type", ""))
        query = parse_qsl(parts.query, keep_blank_values=True)
        return Exchange(parts.path, tuple(query), headers, tuple(form), self._peer())

    def _peer(self) -> PeerCertificate | None:
        connection = self.connection
        if not isinstance(connection, ssl.SSLSocket):
            return None
        der = connection.getpeercert(binary_form=True)
        return PeerCertificate.from_der(der) if der else None

    def _send(
        self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _outcome(status: int, body: Mapping[str, Any]) -> str:
    """``200 ok``, or the status and the answer's RFC 6749 ``error`` code if it has one."""
    if status < 400:
        return f"{status} ok"
    error = body.get("error")
    return f"{status} {error}" if isinstance(error, str) else str(status)


def parse_body(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    """A request body's parameters, in order: form-encoded, or a JSON object's members."""
    media = content_type.split(";", 1)[0].strip().lower()
    text = raw.decode("utf-8", errors="replace")
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            return []
        pairs: list[tuple[str, str]] = []
        for key, value in data.items() if isinstance(data, dict) else ():
            for item in value if isinstance(value, list) else [value]:
                pairs.append((str(key), str(item)))
        return pairs
    return parse_qsl(text, keep_blank_values=True)
