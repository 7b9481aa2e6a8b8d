"""The requests transport's deadline: a watchdog that cuts a send off, whatever the server does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tokenrack.http.requests_transport import RequestsTransport, _DeadlineWatch
from tokenrack.oauth.message import EncodedRequest, TransportError
from tokenrack.oauth.transport import TransportOptions
from tokenrack.testing import Fault, TokenEmulator


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    sender = RequestsTransport()
    yield sender
    sender.close()


def post(emulator: TokenEmulator) -> EncodedRequest:
    # No credentials: the emulator answers 401 at once, on a connection it keeps alive.
    return EncodedRequest(
        method="POST",
        url=emulator.token_url,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"grant_type=client_credentials",
    )


def test_a_kept_alive_connection_is_watched_on_its_next_send(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    options = TransportOptions(read_timeout=20.0, deadline=1.0)
    first = transport.send(post(emulator), options=options, sent_at=0.0)
    assert first.status == 401
    emulator.fail_next(Fault.dribble(b"x" * 100, every=0.2))
    before = set(threading.enumerate())
    with pytest.raises(TransportError) as caught:
        transport.send(post(emulator), options=options, sent_at=0.0)
    assert (caught.value.kind, caught.value.retryable) == ("deadline", False)
    assert str(caught.value) == "no complete answer in the 1s left; connection closed"
    assert 0 < emulator.bytes_streamed < 100
    # Both sends went over one connection: the second was watched without a new connect.
    manager = transport._session.get_adapter(emulator.token_url).poolmanager
    keys = manager.pools.keys()  # the pool container cannot be iterated itself
    assert [manager.pools[key].num_connections for key in keys] == [1]
    left = [t.name for t in threading.enumerate() if t not in before]
    assert [name for name in left if "process_request_thread" not in name] == []


def test_without_a_deadline_only_the_timeouts_apply(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.fail_next(Fault.hang(30))
    with pytest.raises(TransportError) as caught:
        transport.send(post(emulator), options=TransportOptions(read_timeout=0.2), sent_at=0.0)
    assert (caught.value.kind, caught.value.retryable) == ("timeout", True)


def test_a_timeout_before_the_deadline_stays_a_timeout(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.fail_next(Fault.hang(30))
    options = TransportOptions(read_timeout=0.2, deadline=20.0)
    with pytest.raises(TransportError) as caught:
        transport.send(post(emulator), options=options, sent_at=0.0)
    assert caught.value.kind == "timeout"  # retried by the flow while time is left


def test_an_answer_too_large_stays_too_large_within_the_deadline(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.fail_next(Fault.huge(2 * 1024 * 1024))
    options = TransportOptions(deadline=20.0)
    with pytest.raises(TransportError) as caught:
        transport.send(post(emulator), options=options, sent_at=0.0)
    assert caught.value.kind == "too_large"


def test_the_watch_shuts_down_a_socket_handed_over_after_it_fired() -> None:
    watch = _DeadlineWatch(0.01)
    watch.start()
    mine, theirs = socket.socketpair()
    with mine, theirs:
        while not watch.fired:
            time.sleep(0.01)
        watch.watch(mine)
        assert mine.recv(1) == b""  # shut down: the read returns at once
        watch.stop()


def test_a_stopped_watch_leaves_its_sockets_alone_and_its_thread_ends() -> None:
    watch = _DeadlineWatch(0.05)
    watch.start()
    mine, theirs = socket.socketpair()
    with mine, theirs:
        watch.watch(mine)
        watch.stop()
        assert not any(t.name == "tokenrack-deadline" for t in threading.enumerate())
        watch.watch(theirs)  # too late to matter
        time.sleep(0.1)  # past when it would have fired
        theirs.sendall(b"k")
        assert mine.recv(1) == b"k"
        assert not watch.fired


def test_a_request_through_a_proxy_is_watched_too(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    """The emulator stands in for the proxy: it takes the absolute-URI request line."""
    emulator.fail_next(Fault.dribble(b"x" * 100, every=0.2))
    options = TransportOptions(read_timeout=20.0, proxies={"http": emulator.url}, deadline=1.0)
    with pytest.raises(TransportError) as caught:
        transport.send(post(emulator), options=options, sent_at=0.0)
    assert caught.value.kind == "deadline"
    assert emulator.request_count == 1 and 0 < emulator.bytes_streamed < 100
    adapter = transport._session.get_adapter(emulator.token_url)
    assert list(adapter.proxy_manager) == [emulator.url]  # it did go through the proxy


def test_a_timer_that_fires_after_the_stop_does_nothing() -> None:
    watch = _DeadlineWatch(60.0)
    watch.start()
    mine, theirs = socket.socketpair()
    with mine, theirs:
        watch.watch(mine)
        watch.stop()
        watch._fire()  # as if the timer had fired just as the send returned
        assert not watch.fired
        theirs.sendall(b"k")
        assert mine.recv(1) == b"k"


def test_a_watch_whose_timer_never_started_stops_cleanly() -> None:
    """As when the thread cannot be started: the send's cleanup must not fail in turn."""
    _DeadlineWatch(1.0).stop()


# -- proxies ---------------------------------------------------------------------------------


@pytest.fixture
def environment_proxy(emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``HTTP_PROXY`` names the emulator, which takes an absolute-URI request line."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", emulator.url)
    monkeypatch.setenv("NO_PROXY", "")
    return emulator.url


def test_plain_http_to_a_host_elsewhere_still_honours_the_environment_proxy(
    environment_proxy: str, emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    """Only loopback is exempt: a corporate proxy still carries http to other hosts."""
    request = replace(post(emulator), url="http://idp.invalid/oauth/token")
    transport.send(request, options=TransportOptions(), sent_at=0.0)
    assert emulator.request_count == 1  # the "proxy" got it; idp.invalid resolves nowhere
    assert list(transport._session.get_adapter(request.url).proxy_manager) == [environment_proxy]


def test_plain_http_to_loopback_and_empty_proxies_go_direct(
    environment_proxy: str, emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    for options in (TransportOptions(), TransportOptions(proxies={})):
        assert transport.send(post(emulator), options=options, sent_at=0.0).status == 401
    assert emulator.request_count == 2
    assert list(transport._session.get_adapter(emulator.token_url).proxy_manager) == []
