"""aget_token: the same cache, windows and single-flight as get_token, for asyncio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

import tokenrack
from tests.conftest import FakeClock, profile, wait_until
from tokenrack.core.registry import Registry
from tokenrack.errors import InvalidClientError, TokenEndpointUnavailableError
from tokenrack.testing import Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


def test_a_thousand_tasks_on_a_cold_cache_make_one_request(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.latency = 0.1
    registry = make_registry({"a": profile(emulator)})

    async def main() -> set[str]:
        tokens = await asyncio.gather(*(registry.aget_token("a") for _ in range(1000)))
        return {t.access_token for t in tokens}

    assert len(asyncio.run(main())) == 1
    assert emulator.request_count == 1


def coroutines_waiting(registry: Registry, name: str) -> int:
    """How many coroutines wait on the profile's refresh in flight (0 when none flies).

    Reaches into the store on purpose: "the task waited on that flight" is only seen there.
    """
    flight = registry._store.slot(registry.runtime(name).cache_key).flight
    return 0 if flight is None else len(flight._waiters)


def test_threads_and_tasks_at_once_share_one_request(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.gate.clear()  # nobody gets an answer until everyone is waiting
    registry = make_registry({"a": profile(emulator)})
    thread_tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: thread_tokens.append(registry.get_token("a").access_token))
        for _ in range(16)
    ]

    async def main() -> set[str]:
        for thread in threads:
            thread.start()
        # One thread leads: its request is held at the gate (waited for off the loop).
        await asyncio.to_thread(wait_until, lambda: emulator.request_count == 1)
        tasks = [asyncio.create_task(registry.aget_token("a")) for _ in range(200)]
        # Every task has joined that same flight: none leads a second one, none is done.
        await asyncio.to_thread(wait_until, lambda: coroutines_waiting(registry, "a") == 200)
        assert not any(task.done() for task in tasks)
        assert thread_tokens == [] and emulator.request_count == 1
        emulator.gate.set()
        return {t.access_token for t in await asyncio.gather(*tasks)}

    task_tokens = asyncio.run(main())
    for thread in threads:
        thread.join()
    assert emulator.request_count == 1
    assert len(thread_tokens) == 16
    assert task_tokens == set(thread_tokens) and len(task_tokens) == 1
    assert coroutines_waiting(registry, "a") == 0


def test_the_event_loop_keeps_running_during_a_fetch(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.latency = 0.3
    registry = make_registry({"a": profile(emulator)})

    async def main() -> int:
        ticks = 0
        done = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        await registry.aget_token("a")
        done.set()
        await beat
        return ticks

    # A blocked loop would not have ticked at all while the server took 300 ms.
    assert asyncio.run(main()) > 3


def test_hits_never_leave_the_loop_thread(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": profile(emulator)})
    first = registry.get_token("a")

    async def main() -> tokenrack.Token:
        return await registry.aget_token("a")

    assert asyncio.run(main()) is first
    assert emulator.request_count == 1


def test_errors_reach_every_task(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.fail_next(*[Fault.http(503)] * 3)
    registry = make_registry({"a": profile(emulator)}, clock=clock)

    async def main() -> list[BaseException | tokenrack.Token]:
        return await asyncio.gather(
            *(registry.aget_token("a") for _ in range(50)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, TokenEndpointUnavailableError) for r in results)
    assert emulator.request_count == 3  # one flight of three attempts for all fifty


def test_early_window_and_force_refresh_work_the_same(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)

    async def main() -> None:
        first = await registry.aget_token("a")
        clock.advance(3500)  # early window
        emulator.gate.clear()
        assert await registry.aget_token("a") is first  # served at once, refresh in the background
        await asyncio.to_thread(wait_until, lambda: emulator.request_count == 2)
        emulator.gate.set()
        # The background refresh has landed before the forced call: it fetches on its own.
        await asyncio.to_thread(wait_until, lambda: registry.cached("a").token is not first)
        early = registry.cached("a").token
        forced = await registry.aget_token("a", force_refresh=True)
        assert forced.access_token not in (first.access_token, early.access_token)

    asyncio.run(main())
    assert emulator.request_count == 3
    assert registry.stats()["a"]["fetches"] == {"cold": 1, "early": 1, "forced": 1}


def test_a_forced_call_joins_an_early_refresh_in_flight(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)

    async def main() -> None:
        first = await registry.aget_token("a")
        clock.advance(3500)  # early window
        emulator.gate.clear()
        assert await registry.aget_token("a") is first
        await asyncio.to_thread(wait_until, lambda: emulator.request_count == 2)
        forced = asyncio.create_task(registry.aget_token("a", force_refresh=True))
        # The forced call waits on the early refresh (held at the gate), not a flight of its own.
        await asyncio.to_thread(wait_until, lambda: coroutines_waiting(registry, "a") == 1)
        assert not forced.done()
        emulator.gate.set()
        assert (await forced).access_token == emulator.issued_tokens[1]

    asyncio.run(main())
    assert emulator.request_count == 2


def test_cancelled_waiters_do_not_disturb_the_flight(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.latency = 0.3
    registry = make_registry({"a": profile(emulator)})

    async def main() -> str:
        leader = asyncio.create_task(registry.aget_token("a"))
        waiters = [asyncio.create_task(registry.aget_token("a")) for _ in range(10)]
        await asyncio.sleep(0.05)
        for waiter in waiters[:5]:
            waiter.cancel()
        results = await asyncio.gather(leader, *waiters[5:])
        return results[0].access_token

    token = asyncio.run(main())
    assert token in emulator.issued_tokens and emulator.request_count == 1


def test_module_level_aget_token(
    emulator: TokenEmulator, tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    path = tmp_path / "tokenrack.yaml"  # type: ignore[operator]
    path.write_text(yaml.safe_dump({"version": 1, "profiles": {"a": profile(emulator)}}))
    monkeypatch.setenv("TOKENRACK_CONFIG", str(path))
    tokenrack.configure(None)
    try:
        token = asyncio.run(tokenrack.aget_token("a"))
        assert token.access_token in emulator.issued_tokens
    finally:
        tokenrack.configure(None)


def test_refusal_cooldown_applies_to_tasks(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {"a": profile(emulator, client_secret="wrong", auth_method="client_secret_basic")}
    )

    async def main() -> list[BaseException | tokenrack.Token]:
        first = await asyncio.gather(registry.aget_token("a"), return_exceptions=True)
        again = await asyncio.gather(
            *(registry.aget_token("a") for _ in range(20)), return_exceptions=True
        )
        return [*first, *again]

    results = asyncio.run(main())
    assert all(isinstance(r, InvalidClientError) for r in results)
    assert emulator.request_count == 1


def test_profiles_with_different_scopes_neither_share_nor_wait(make_registry: MakeRegistry) -> None:
    from tests.conftest import canary_client

    with TokenEmulator([canary_client()]) as slow, TokenEmulator([canary_client()]) as fast:
        registry = make_registry(
            {"slow": profile(slow, scopes=["a"]), "fast": profile(fast, scopes=["b"])}
        )
        slow.gate.clear()

        async def main() -> tuple[str, bool]:
            stuck = asyncio.create_task(registry.aget_token("slow"))
            await asyncio.to_thread(wait_until, lambda: slow.request_count == 1)
            got = await registry.aget_token("fast")  # not held up by the other profile's fetch
            still_waiting = not stuck.done()
            slow.gate.set()
            await stuck
            return got.access_token, still_waiting

        token, still_waiting = asyncio.run(main())
        assert token in fast.issued_tokens and still_waiting
