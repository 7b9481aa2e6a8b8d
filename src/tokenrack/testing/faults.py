"""Fault injection: what the emulator does instead of (or before) answering.

A :class:`Fault` is queued with :meth:`~tokenrack.testing.emulator.TokenEmulator.fail_next`
and consumed by one request; :func:`act_out` plays it on the request's connection.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["Fault", "act_out"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour, consumed by one request (see the constructors)."""

    kind: str
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def http(
        cls,
        status: int,
        body: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with ``status`` and a JSON ``body`` (e.g. 503 with ``Retry-After``)."""
        payload = json.dumps(body if body is not None else {"error": "server_error"}).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls("http", status=status, body=payload, headers=merged)

    @classmethod
    def raw(
        cls, body: bytes, *, content_type: str = "application/json", status: int = 200
    ) -> Fault:
        """Answer with exactly ``body`` (an HTML page, truncated JSON, …)."""
        return cls("http", status=status, body=body, headers={"Content-Type": content_type})

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection with a TCP reset instead of answering."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Accept the request and say nothing for ``seconds`` (or until the emulator stops)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, ``seconds`` late."""
        return cls("delay", seconds=seconds)

    @classmethod
    def huge(cls, size: int) -> Fault:
        """Answer 200 with a body of ``size`` bytes, streamed (never held in memory).

        ``TokenEmulator.bytes_streamed`` then says how much the client took before it
        closed the connection.
        """
        return cls("huge", status=200, seconds=float(size))

    @classmethod
    def dribble(cls, body: bytes, *, every: float = 1.0) -> Fault:
        """Answer 200, then send ``body`` one byte every ``every`` seconds (slowloris)."""
        return cls("dribble", status=200, body=body, seconds=every)

    @classmethod
    def dribble_headers(cls, body: bytes, *, every: float = 1.0) -> Fault:
        """Send the status line and headers one byte every ``every`` seconds, then ``body``.

        No single read waits long, so a read timeout never fires. ``bytes_streamed`` counts
        the bytes of the head sent before the client left.
        """
        return cls("dribble_headers", status=200, body=body, seconds=every)


def act_out(handler: BaseHTTPRequestHandler, fault: Fault, emulator: TokenEmulator) -> bool:
    """Play ``fault`` on the handler's connection; True when it replaced the answer.

    Args:
        handler: The request being answered.
        fault: The fault it consumed.
        emulator: Whose ``stopping`` event cuts waits short and whose ``bytes_streamed``
            counts what a streamed answer sent.
    """
    if fault.kind == "reset":
        # SO_LINGER 0: close() sends RST, not FIN, as a crashed server or a middlebox does.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True
        return True
    if fault.kind == "hang":
        emulator.stopping.wait(fault.seconds)
        handler.close_connection = True
        return True
    if fault.kind == "delay":
        emulator.stopping.wait(fault.seconds)
        return False
    if fault.kind in ("huge", "dribble"):
        _stream(handler, fault, emulator)
        return True
    if fault.kind == "dribble_headers":
        _dribble_head(handler, fault, emulator)
        return True
    handler.send_response(fault.status)
    for name, value in fault.headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(fault.body)))
    handler.end_headers()
    handler.wfile.write(fault.body)
    return True


def _stream(handler: BaseHTTPRequestHandler, fault: Fault, emulator: TokenEmulator) -> None:
    """Huge or slow bodies: written piece by piece until done or the client leaves."""
    size = int(fault.seconds) if fault.kind == "huge" else len(fault.body)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(size))
    handler.end_headers()
    handler.wfile.flush()
    sent = 0
    chunk = b"0" * 65536
    try:
        while sent < size and not emulator.stopping.is_set():
            if fault.kind == "huge":
                piece = chunk[: size - sent]
            else:
                piece = fault.body[sent : sent + 1]
                emulator.stopping.wait(fault.seconds)
            handler.wfile.write(piece)
            handler.wfile.flush()
            sent += len(piece)
            emulator.note_streamed(sent)
    except OSError:
        pass  # the client closed the connection, as it should
    handler.close_connection = True


def _dribble_head(handler: BaseHTTPRequestHandler, fault: Fault, emulator: TokenEmulator) -> None:
    """The status line and headers a byte at a time, then the body at once."""
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(fault.body)}\r\n\r\n"
    ).encode("ascii")
    sent = 0
    try:
        # Straight to the socket: nothing is left buffered to fail again later.
        while sent < len(head):
            if emulator.stopping.wait(fault.seconds):
                break
            handler.connection.sendall(head[sent : sent + 1])
            sent += 1
            emulator.note_streamed(sent)
        else:
            handler.connection.sendall(fault.body)
    except OSError:
        pass  # the client closed the connection, as it should
    handler.close_connection = True
