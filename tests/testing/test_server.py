"""The emulator's HTTP server: errors while answering are logged, never printed."""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Sequence

import pytest
import requests

from tokenrack.testing import EmulatorClient, Exchange, Personality, TokenEmulator
from tokenrack.testing.server import EmulatorHandler, EmulatorServer, parse_body
from tokenrack.testing.values import Answer

LOGGER = "tokenrack.testing.server"


def wait_for_record(caplog: pytest.LogCaptureFixture, level: int) -> logging.LogRecord:
    deadline = time.monotonic() + 10  # a bound on waiting for the server thread, not a timing claim
    while time.monotonic() < deadline:
        found = [r for r in caplog.records if r.name == LOGGER and r.levelno == level]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"nothing logged at {logging.getLevelName(level)}")


def test_a_client_that_hangs_up_mid_request_is_logged_not_printed(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with TokenEmulator() as emulator:
        with socket.create_connection(("127.0.0.1", emulator.port)) as client:
            client.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-")
            time.sleep(0.05)  # let the server block reading the rest of the headers
            # SO_LINGER 0: close() sends RST, so the server's read fails mid-request.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        record = wait_for_record(caplog, logging.DEBUG)
        assert "went away" in record.getMessage() and record.exc_info is not None
        assert isinstance(record.exc_info[1], OSError)
        # The emulator still serves afterwards.
        assert requests.post(emulator.token_url, data={}, timeout=5).status_code == 401
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception occurred" not in captured.err
    assert captured.out == ""


class Broken(Personality):
    """A personality with a bug: its check raises."""

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        raise RuntimeError("a bug in a personality")


def test_a_bug_while_answering_is_a_warning_with_its_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with TokenEmulator(personality=Broken()) as emulator:
        with pytest.raises(requests.ConnectionError):
            requests.post(
                emulator.token_url,
                data={"grant_type": "client_credentials"},
                auth=("test-client", "test-secret"),
                timeout=5,
            )
        record = wait_for_record(caplog, logging.WARNING)
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "error while answering" in record.getMessage()
    assert "Traceback" not in capfd.readouterr().err


def test_the_handler_reads_its_emulator_from_the_server() -> None:
    with TokenEmulator() as emulator:
        server = emulator._server
        assert isinstance(server, EmulatorServer)
        assert server.emulator is emulator and server.RequestHandlerClass is EmulatorHandler
        assert server.request_queue_size == 256 and server.daemon_threads


@pytest.mark.parametrize(
    ("raw", "content_type", "pairs"),
    [
        (b"a=1&b=&a=2", "application/x-www-form-urlencoded", [("a", "1"), ("b", ""), ("a", "2")]),
        (
            b'{"a": ["1", 2], "b": "x"}',
            "application/json; charset=utf-8",
            [("a", "1"), ("a", "2"), ("b", "x")],
        ),
        (b"{not json", "application/json", []),
        (b"[1, 2]", "application/json", []),
    ],
)
def test_parse_body(raw: bytes, content_type: str, pairs: list[tuple[str, str]]) -> None:
    assert parse_body(raw, content_type) == pairs


def test_a_stopped_emulator_ends_kept_alive_connections_too() -> None:
    session = requests.Session()
    form = {"grant_type": "client_credentials"}
    with TokenEmulator([EmulatorClient("kept-alive", "plain-secret")]) as server:
        url = server.token_url
        answer = session.post(url, data=form, auth=("kept-alive", "plain-secret"), timeout=5)
        assert answer.status_code == 200
    # The session kept its connection alive; the emulator has stopped, so nothing answers.
    with pytest.raises(requests.ConnectionError):
        session.post(url, data=form, auth=("kept-alive", "plain-secret"), timeout=5)
    session.close()
