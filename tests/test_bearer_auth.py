"""BearerAuth with requests: a real API on loopback that accepts or rejects tokens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.conftest import profile, wait_until
from tokenrack.core.bearer_auth import BearerAuth, TokenSource
from tokenrack.core.registry import Registry
from tokenrack.testing import TokenEmulator


class Api:
    """A protected resource: answers 200 to an accepted bearer token, 401 otherwise."""

    def __init__(self) -> None:
        self.rejected: set[str] = set()
        self.reject_all = False
        self.seen: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ")
                with api.lock:
                    api.seen.append((token, body))
                    ok = (
                        auth.startswith("Bearer ")
                        and not api.reject_all
                        and token not in api.rejected
                    )
                api.hold.wait(10)
                payload = b"ok" if ok else b"unauthorized"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/resource"

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


@pytest.fixture
def session(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> Iterator[requests.Session]:
    registry = make_registry({"billing": profile(emulator)})
    with requests.Session() as http:
        http.auth = BearerAuth("billing", registry=registry)
        yield http


def test_sets_the_authorization_header(
    session: requests.Session, api: Api, emulator: TokenEmulator
) -> None:
    response = session.get(api.url)
    assert response.status_code == 200
    assert api.seen[0][0] == emulator.issued_tokens[0]
    session.get(api.url)
    assert emulator.request_count == 1


def test_a_401_refreshes_and_retries_once(
    session: requests.Session, api: Api, emulator: TokenEmulator
) -> None:
    session.get(api.url)
    api.rejected.add(emulator.issued_tokens[0])  # the API revokes the token
    response = session.post(api.url, data=b"payload")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert emulator.request_count == 2
    assert api.seen[-1] == (emulator.issued_tokens[1], b"payload")  # same body, new token


def test_a_second_401_is_returned(
    session: requests.Session, api: Api, emulator: TokenEmulator
) -> None:
    api.reject_all = True
    response = session.get(api.url)
    assert response.status_code == 401
    assert len(api.seen) == 2  # the request and one retry, no more
    assert emulator.request_count == 2


def test_many_concurrent_401s_cause_one_refresh(
    session: requests.Session, api: Api, emulator: TokenEmulator
) -> None:
    session.get(api.url)
    api.rejected.add(emulator.issued_tokens[0])
    api.hold.clear()  # every request reaches the API before any answer leaves
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(session.get(api.url).status_code))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(api.seen) >= 17)
    api.hold.set()
    for thread in threads:
        thread.join()
    assert results == [200] * 16
    assert emulator.request_count == 2  # the first token, then exactly one refresh


def test_streamed_bodies_are_not_replayed(
    session: requests.Session, api: Api, emulator: TokenEmulator
) -> None:
    api.reject_all = True
    response = session.post(api.url, data=iter([b"chunk"]))
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert emulator.request_count == 1


# -- TokenSource: what both bearer auths (requests, httpx) share ---------------------------


def test_token_source_serves_the_registrys_token_and_drops_only_the_rejected_one(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"billing": profile(emulator)})
    source = TokenSource("billing", registry)
    first = source.get()
    assert source.get() is first and emulator.request_count == 1
    source.rejected(first)
    second = source.get()
    assert second.access_token != first.access_token
    source.rejected(first)  # a late 401 for the old token: the new one stays cached
    assert source.get() is second
    assert emulator.request_count == 2
    assert registry.stats()["billing"]["fetches"] == {"cold": 1, "401": 1}


def test_token_source_without_a_registry_follows_the_default_one(
    emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenrack.core import default

    one = Registry.from_dict({"version": 1, "profiles": {"billing": profile(emulator)}})
    other = Registry.from_dict({"version": 1, "profiles": {"billing": profile(emulator)}})
    current = [one]
    monkeypatch.setattr(default, "default_registry", lambda: current[0])
    source = TokenSource("billing")
    assert source.registry() is one
    current[0] = other  # e.g. tokenrack.configure(): looked up at each use
    assert source.registry() is other
    assert source.get().access_token == emulator.issued_tokens[0]
    assert one.cached("billing") is None and other.cached("billing") is not None
    one.close()
    other.close()


def test_token_source_builds_the_default_registry_off_the_event_loop(
    emulator: TokenEmulator,
    make_registry: Callable[..., Registry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from tokenrack.core import default

    registry = make_registry({"billing": profile(emulator)})
    threads: list[threading.Thread] = []

    def default_registry() -> Registry:
        threads.append(threading.current_thread())
        return registry

    monkeypatch.setattr(default, "default_registry", default_registry)
    token = asyncio.run(TokenSource("billing").aget())
    assert token.access_token == emulator.issued_tokens[0]
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    # A given registry is used as it is, without a worker thread.
    assert asyncio.run(TokenSource("billing", registry).aget()) is token
    assert len(threads) == 1


def test_bearer_auth_registry_is_its_sources(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"billing": profile(emulator)})
    assert BearerAuth("billing", registry=registry).registry() is registry
    assert repr(TokenSource("billing", registry)) == "TokenSource(profile='billing')"
