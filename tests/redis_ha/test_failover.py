"""The primary dies mid-run: callers see no error, and the fleet shares tokens again after.

A fleet of four registries (each one stands for a process: its own in-process cache and
Redis client), two threads each, asks for 3-second tokens every 10 ms while the test kills
the Redis primary that holds the token. Counted: caller errors (none, in every phase) and,
once Redis answers again, who used each token fetched: every one of them was used by all
four registries, so each refresh was one request for the whole fleet (with four separate
caches, each token would be used by one registry only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK, LeakGuard, canary_client, profile, wait_until
from tests.redis_ha.conftest import (
    PROMOTION_WAIT,
    REDIS_PASSWORD,
    SENTINEL_PASSWORD,
    ClusterSetup,
    Fleet,
    SentinelSetup,
    Servers,
    client,
    digest,
)
from tokenrack.core.registry import Registry
from tokenrack.testing import TokenEmulator

pytestmark = pytest.mark.slow

MakeRegistry = Callable[..., Registry]
REGISTRIES = 4


def breakers_closed(leak_guard: LeakGuard) -> bool:
    """Every outage the breakers logged has ended ("answers again")."""
    lines = [line for line in leak_guard.lines if line.startswith("tokenrack.cache.guard")]
    down = sum("is unavailable" in line for line in lines)
    back = sum("answers again" in line for line in lines)
    return down >= 1 and back >= down


def run_failover(
    emulator: TokenEmulator,
    registries: list[Registry],
    leak_guard: LeakGuard,
    *,
    kill: Callable[[], None],
    promoted: Callable[[], bool],
    record: Callable[[], bytes | None],
) -> Fleet:
    """Warm, kill, wait for the promotion and the fleet's return, then watch 3 refreshes."""
    with Fleet(registries) as fleet:
        # Two generations through the live primary first.
        wait_until(lambda: len(emulator.issued_tokens) >= 2, timeout=60)
        fleet.phase = "outage"
        killed_at = len(emulator.issued_tokens)
        kill()
        wait_until(promoted, timeout=PROMOTION_WAIT)

        def new_record_on_new_primary() -> bool:
            value = record() or b""
            return any(t.encode() in value for t in emulator.issued_tokens[killed_at:])

        # tokenrack follows: a token fetched after the kill is written to the new primary.
        wait_until(new_record_on_new_primary, timeout=PROMOTION_WAIT)
        wait_until(lambda: breakers_closed(leak_guard), timeout=PROMOTION_WAIT)
        fleet.phase = "after"
        recovered_at = len(emulator.issued_tokens)
        wait_until(lambda: len(emulator.issued_tokens) >= recovered_at + 4, timeout=60)
    assert fleet.errors == []
    assert all(valid for *_, valid in fleet.calls)
    assert {phase for phase, *_ in fleet.calls} == {"before", "outage", "after"}
    after = emulator.issued_tokens[recovered_at:]
    assert emulator.request_count == len(emulator.issued_tokens)
    # Every refresh after the return was one request whose token all four used. Not
    # counted: the first (a fetch decided while a breaker was still open may end just
    # after the return) and the last (it may come too late for some before the stop).
    users = [sorted(fleet.users(digest(token))) for token in after]
    everyone = list(range(len(registries)))
    guard = [line for line in leak_guard.lines if line.startswith("tokenrack.cache.guard")]
    assert users[1:-1] == [everyone] * (len(after) - 2), f"users of new tokens: {users}, {guard}"
    last = record() or b""
    assert any(t.encode() in last for t in after), "the new primary holds no recent token"
    return fleet


@pytest.fixture
def short_tokens() -> Any:
    # 3 s tokens: each registry's early window opens after about 2 s (jittered).
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", expires_in=3, latency=0.02
    ) as running:
        yield running


def test_sentinel_failover_costs_callers_no_error_and_the_fleet_shares_again(
    short_tokens: TokenEmulator,
    make_registry: MakeRegistry,
    sentinel_setup: SentinelSetup,
    servers: Servers,
    leak_guard: LeakGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HA_REDIS_PASSWORD", REDIS_PASSWORD)
    monkeypatch.setenv("HA_SENTINEL_PASSWORD", SENTINEL_PASSWORD)
    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": sentinel_setup.url(),
        "password": {"env": "HA_REDIS_PASSWORD"},
        "sentinel_password": {"env": "HA_SENTINEL_PASSWORD"},
        "timeout": 0.3,
        "key_prefix": "ha-sentinel:",
    }
    registries = [make_registry({"a": profile(short_tokens, cache=cache)}) for _ in range(4)]
    key = f"ha-sentinel:token:{registries[0].runtime('a').cache_key}"
    assert sentinel_setup.primary_port() == sentinel_setup.primary

    def record() -> bytes | None:
        port = sentinel_setup.primary_port()
        if port is None:
            return None
        value: bytes | None = client(port).get(key)
        return value

    run_failover(
        short_tokens,
        registries,
        leak_guard,
        kill=lambda: servers.kill(sentinel_setup.primary),
        promoted=lambda: sentinel_setup.primary_port() == sentinel_setup.replica,
        record=record,
    )


def test_cluster_failover_costs_callers_no_error_and_the_fleet_shares_again(
    short_tokens: TokenEmulator,
    make_registry: MakeRegistry,
    cluster_setup: ClusterSetup,
    servers: Servers,
    leak_guard: LeakGuard,
) -> None:
    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": cluster_setup.url(),
        "timeout": 0.3,
        "key_prefix": "ha-cluster:",
    }
    registries = [make_registry({"a": profile(short_tokens, cache=cache)}) for _ in range(4)]
    key = f"ha-cluster:token:{{{registries[0].runtime('a').cache_key}}}"
    owner = cluster_setup.slot_owner(key)
    assert owner is not None

    def record() -> bytes | None:
        port = cluster_setup.slot_owner(key)
        if port is None or port == owner:
            return None
        value: bytes | None = client(port, None).get(key)
        return value

    def promoted() -> bool:
        now = cluster_setup.slot_owner(key)
        return now is not None and now != owner and cluster_setup.healthy()

    run_failover(
        short_tokens,
        registries,
        leak_guard,
        kill=lambda: servers.kill(owner),
        promoted=promoted,
        record=record,
    )
