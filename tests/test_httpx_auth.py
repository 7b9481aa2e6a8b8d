"""tokenrack.httpx.BearerAuth: the same 401 handling as the requests BearerAuth, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import profile, wait_until
from tests.test_bearer_auth import Api
from tokenrack.core.registry import Registry
from tokenrack.httpx import BearerAuth
from tokenrack.testing import TokenEmulator


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


@pytest.fixture
def auth(emulator: TokenEmulator, make_registry: Callable[..., Registry]) -> BearerAuth:
    return BearerAuth("billing", registry=make_registry({"billing": profile(emulator)}))


def test_sync_sets_the_header_and_caches(
    auth: BearerAuth, api: Api, emulator: TokenEmulator
) -> None:
    with httpx.Client(auth=auth) as client:
        assert client.get(api.url).status_code == 200
        assert client.get(api.url).status_code == 200
    assert [token for token, _ in api.seen] == [emulator.issued_tokens[0]] * 2
    assert emulator.request_count == 1


def test_sync_401_refreshes_and_retries_once_with_the_body(
    auth: BearerAuth, api: Api, emulator: TokenEmulator
) -> None:
    with httpx.Client(auth=auth) as client:
        client.get(api.url)
        api.rejected.add(emulator.issued_tokens[0])
        response = client.post(api.url, content=b"payload")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert api.seen[-1] == (emulator.issued_tokens[1], b"payload")
    assert emulator.request_count == 2


def test_sync_second_401_is_returned(auth: BearerAuth, api: Api, emulator: TokenEmulator) -> None:
    api.reject_all = True
    with httpx.Client(auth=auth) as client:
        assert client.get(api.url).status_code == 401
    assert len(api.seen) == 2 and emulator.request_count == 2


def test_async_401_refreshes_once_for_many_concurrent_requests(
    auth: BearerAuth, api: Api, emulator: TokenEmulator
) -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as client:
            await client.get(api.url)
            api.rejected.add(emulator.issued_tokens[0])
            api.hold.clear()  # every request reaches the API before any answer leaves
            tasks = [asyncio.create_task(client.get(api.url)) for _ in range(20)]
            await asyncio.to_thread(wait_until, lambda: len(api.seen) >= 21)
            api.hold.set()
            return [r.status_code for r in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [200] * 20
    assert emulator.request_count == 2  # the first token, then exactly one refresh


def test_async_and_threads_share_the_registry(
    auth: BearerAuth, api: Api, emulator: TokenEmulator
) -> None:
    results: list[int] = []

    def sync_user() -> None:
        with httpx.Client(auth=auth) as client:
            results.append(client.get(api.url).status_code)

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.get(api.url)).status_code

    thread = threading.Thread(target=sync_user)
    thread.start()
    assert asyncio.run(main()) == 200
    thread.join()
    assert results == [200] and emulator.request_count == 1
