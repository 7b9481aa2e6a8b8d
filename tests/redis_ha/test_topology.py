"""Which Redis a cache URL names, what is shown of it, and where a token's keys live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK, profile
from tests.redis_ha.conftest import (
    REDIS_PASSWORD,
    SENTINEL_PASSWORD,
    ClusterSetup,
    SentinelSetup,
    client,
)
from tokenrack.cache.redis import RedisCache, redact_url
from tokenrack.cache.redis_topology import Topology, parse_topology
from tokenrack.core.registry import Registry
from tokenrack.errors import CacheError
from tokenrack.secret.value import Secret
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]


@pytest.mark.parametrize(
    ("url", "cluster", "expected"),
    [
        ("redis://h:1/2", False, Topology("server", "redis://h:1/2")),
        ("unix:///run/redis.sock", False, Topology("server", "unix:///run/redis.sock")),
        (
            "redis+sentinel://a:26380,b/tokens/3",
            False,
            Topology(
                "sentinel",
                "redis+sentinel://a:26380,b/tokens/3",
                nodes=(("a", 26380), ("b", 26379)),
                service_name="tokens",
                db=3,
            ),
        ),
        (
            "rediss+sentinel://app@[::1]:5000/tokens",
            False,
            Topology(
                "sentinel",
                "rediss+sentinel://app@[::1]:5000/tokens",
                nodes=(("::1", 5000),),
                service_name="tokens",
                username="app",
                tls=True,
            ),
        ),
        (
            "redis+cluster://a:7000,b:7001",
            False,
            Topology("cluster", "redis+cluster://a:7000,b:7001", nodes=(("a", 7000), ("b", 7001))),
        ),
        (
            "rediss://a:7000",
            True,
            Topology("cluster", "rediss://a:7000", nodes=(("a", 7000),), tls=True),
        ),
    ],
)
def test_each_url_form_names_its_topology(url: str, cluster: bool, expected: Topology) -> None:
    assert parse_topology(url, cluster=cluster) == expected


@pytest.mark.parametrize(
    ("url", "cluster", "problem"),
    [
        ("http://h:1", False, "scheme must be one of"),
        ("redis+sentinel://a:1", False, "ends in /service_name"),
        ("redis+sentinel://a:1/tokens/x", False, "must be a number"),
        ("redis+sentinel://a:1/tokens/0/more", False, "ends in /service_name"),
        ("redis+cluster://a:1/2", False, "only database 0"),
        ("redis+cluster://a:1,:2", False, "needs a name"),
        ("redis+cluster://a:99999", False, "bad port"),
        ("unix:///s.sock", True, "not a socket"),
        ("redis+sentinel://a:1/tokens", True, "does not go with"),
    ],
)
def test_a_bad_url_is_refused_with_what_is_wrong(url: str, cluster: bool, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_topology(url, cluster=cluster)


def test_a_bad_sentinel_url_in_a_cache_is_a_cache_error_without_its_password() -> None:
    with pytest.raises(CacheError) as caught:
        RedisCache({"url": "redis+sentinel://a:1"}, secrets={"password": Secret(REDIS_PASSWORD)})
    assert "ends in /service_name" in str(caught.value)
    assert REDIS_PASSWORD not in f"{caught.value} {caught.value!r}"


def test_sentinel_and_cluster_urls_are_shown_without_credentials() -> None:
    assert (
        redact_url(f"redis+sentinel://app:{REDIS_PASSWORD}@a:1,b:2/tokens/0")
        == "redis+sentinel://a:1,b:2/tokens/0"
    )
    assert redact_url(f"rediss+cluster://:{REDIS_PASSWORD}@a:1,b:2") == "rediss+cluster://a:1,b:2"
    cache = RedisCache(
        {"url": f"redis+sentinel://:{REDIS_PASSWORD}@a:1/tokens"},
        secrets={"sentinel_password": Secret(SENTINEL_PASSWORD)},
    )
    shown = f"{cache!r} {cache.describe()}"
    assert "redis+sentinel://a:1/tokens" in shown
    assert REDIS_PASSWORD not in shown and SENTINEL_PASSWORD not in shown


def test_cluster_keys_of_one_token_carry_its_cache_key_as_hash_tag() -> None:
    cache = RedisCache({"url": "redis+cluster://127.0.0.1:1", "key_prefix": "p:"}, secrets={})
    assert cache._token_key("k1") == "p:token:{k1}"
    assert cache._lock_key("k1") == "p:lock:{k1}"
    assert cache._lock_key("k1:takeover") == "p:lock:{k1}:takeover"
    # One server or a sentinel-watched primary: the names are as they always were.
    single = RedisCache({"url": "redis://127.0.0.1:1", "key_prefix": "p:"}, secrets={})
    assert single._lock_key("k1:takeover") == "p:lock:k1:takeover"


@pytest.mark.slow
def test_a_profile_takes_a_sentinel_url_and_both_passwords_as_secrets(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    sentinel_setup: SentinelSetup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HA_REDIS_PASSWORD", REDIS_PASSWORD)
    monkeypatch.setenv("HA_SENTINEL_PASSWORD", SENTINEL_PASSWORD)
    cache: dict[str, Any] = {
        "backend": "redis",
        "plaintext": True,
        "url": sentinel_setup.url(),
        "password": {"env": "HA_REDIS_PASSWORD"},
        "sentinel_password": {"env": "HA_SENTINEL_PASSWORD"},
        "key_prefix": "ha-share:",
    }
    config = {"a": profile(emulator, cache=cache)}
    first = make_registry(config).get_token("a")
    second = make_registry(config).get_token("a")
    assert second.access_token == first.access_token
    assert emulator.request_count == 1
    key = f"ha-share:token:{make_registry(config).runtime('a').cache_key}"
    assert TOKEN_MARK.encode() in client(sentinel_setup.primary).get(key)


@pytest.mark.slow
def test_a_wrong_sentinel_password_costs_callers_nothing(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    sentinel_setup: SentinelSetup,
) -> None:
    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": sentinel_setup.url(),
        "password": REDIS_PASSWORD,
        "sentinel_password": "wrong",
    }
    registry = make_registry({"a": profile(emulator, cache=cache)})
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert emulator.request_count == 1


@pytest.mark.slow
def test_in_a_cluster_a_tokens_record_and_locks_share_one_slot_and_the_fleet_shares(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cluster_setup: ClusterSetup,
) -> None:
    for prefix, url, extra in (
        ("ha-url:", cluster_setup.url(), {}),
        ("ha-flag:", f"redis://127.0.0.1:{cluster_setup.ports[0]}", {"cluster": True}),
    ):
        cache = {"backend": "redis", "plaintext": True, "url": url, "key_prefix": prefix, **extra}
        config = {"a": profile(emulator, cache=cache)}
        before = emulator.request_count
        first = make_registry(config).get_token("a")
        assert make_registry(config).get_token("a").access_token == first.access_token
        assert emulator.request_count == before + 1
    backend = RedisCache({"url": cluster_setup.url(), "key_prefix": "ha-url:"}, secrets={})
    names = [backend._token_key("k"), backend._lock_key("k"), backend._lock_key("k:takeover")]
    probe = client(cluster_setup.ports[0], None)
    slots = {int(probe.execute_command("CLUSTER", "KEYSLOT", name)) for name in names}
    assert len(slots) == 1
    # Administration lists records on every primary.
    listed = [name for name, _ in backend.entries()]
    assert len(listed) == 1 and listed[0].startswith("ha-url:token:{")
    backend.close()
