"""The Redis backend against a real Redis on 127.0.0.1 (see the redis_url fixture)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from tests.conftest import TOKEN_MARK, LeakGuard, profile, wait_until
from tokenrack.cache.record import decode_record
from tokenrack.cache.redis import RedisCache, redact_url
from tokenrack.core.registry import Registry
from tokenrack.errors import CacheError
from tokenrack.secret.value import Secret
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]


@pytest.fixture
def cache(redis_url: str, redis_prefix: str) -> Iterator[RedisCache]:
    made = RedisCache({"url": redis_url, "key_prefix": redis_prefix}, secrets={})
    yield made
    made.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


def test_set_get_delete_with_a_ttl(
    cache: RedisCache, client: redis.Redis, redis_prefix: str
) -> None:
    cache.set("k", b"record", ttl=30)
    assert cache.get("k") == b"record"
    ttl_ms = client.pttl(f"{redis_prefix}token:k")
    assert 0 < ttl_ms <= 30_000
    assert cache.delete("k") is True
    assert cache.get("k") is None
    assert cache.delete("k") is False


def test_the_record_lives_as_long_as_the_token(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
) -> None:
    registry = make_registry(
        {
            "a": profile(
                emulator,
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": redis_url,
                    "key_prefix": redis_prefix,
                },
            )
        }
    )
    token = registry.get_token("a")
    key = f"{redis_prefix}token:{registry.runtime('a').cache_key}"
    ttl = client.pttl(key) / 1000
    assert 3500 < ttl <= 3600
    stored = decode_record(client.get(key), key=registry.runtime("a").cache_key, now=time.time())
    assert stored.token.access_token == token.access_token


def test_lock_is_exclusive_and_released_by_compare_and_delete(
    cache: RedisCache, client: redis.Redis, redis_prefix: str
) -> None:
    first = cache.try_lock("k", lease=0.3)
    assert first is not None
    assert cache.try_lock("k", lease=0.3) is None
    # The first holder's lease runs out and another process takes the lock...
    wait_until(lambda: client.get(f"{redis_prefix}lock:k") is None, timeout=5)
    second = cache.try_lock("k", lease=30)
    assert second is not None
    # ...then the late first holder releases: the second holder's lock must survive.
    first.release()
    assert client.get(f"{redis_prefix}lock:k") is not None
    assert cache.try_lock("k", lease=30) is None
    second.release()
    assert client.get(f"{redis_prefix}lock:k") is None


def test_entries_lists_only_this_prefix(
    cache: RedisCache, redis_url: str, redis_prefix: str
) -> None:
    other = RedisCache({"url": redis_url, "key_prefix": redis_prefix + "other:"}, secrets={})
    try:
        cache.set("k1", b"one", ttl=30)
        other.set("k2", b"two", ttl=30)
        assert [data for _, data in cache.entries()] == [b"one"]
    finally:
        other.close()


def test_garbage_in_redis_is_a_miss_and_replaced(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    leak_guard: LeakGuard,
) -> None:
    config = {
        "a": profile(
            emulator,
            cache={
                "backend": "redis",
                "plaintext": True,
                "url": redis_url,
                "key_prefix": redis_prefix,
            },
        )
    }
    first = make_registry(config)
    first.get_token("a")
    key = f"{redis_prefix}token:{first.runtime('a').cache_key}"
    client.set(key, b"\x89PNG garbage")
    second = make_registry(config)
    token = second.get_token("a")
    assert emulator.request_count == 2
    assert any("unusable" in line for line in leak_guard.lines)
    replaced = decode_record(client.get(key), key=second.runtime("a").cache_key, now=time.time())
    assert replaced.token.access_token == token.access_token


def test_a_wrong_type_in_redis_is_a_cache_failure(
    cache: RedisCache, client: redis.Redis, redis_prefix: str
) -> None:
    client.rpush(f"{redis_prefix}token:k", b"x")
    with pytest.raises(CacheError, match="WRONGTYPE|ResponseError"):
        cache.get("k")


def test_unreachable_redis_fails_within_the_timeout_and_names_no_password() -> None:
    cache = RedisCache(
        {"url": "redis://user:CANARYSECRET@127.0.0.1:1/0", "timeout": 0.2},
        secrets={"password": Secret("CANARYSECRET-2")},
    )
    with pytest.raises(CacheError) as caught:
        cache.get("k")
    assert "redis://127.0.0.1:1/0" in str(caught.value)
    assert "CANARYSECRET" not in repr(cache) + cache.describe()


def test_redact_url() -> None:
    assert redact_url("redis://u:p@h:6380/2") == "redis://h:6380/2"
    assert redact_url("rediss://:p@h") == "rediss://h"
    assert redact_url("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock"
    assert redact_url("redis://[::1]:6379") == "redis://[::1]:6379"


def test_password_option_authenticates(
    emulator: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    # The shared test Redis has no password; a wrong one must fail as an outage, not an
    # exception, and the token must still come.
    registry = make_registry(
        {
            "a": profile(
                emulator,
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": redis_url,
                    "key_prefix": redis_prefix,
                    "username": "nobody",
                    "password": "CANARYSECRET-redis",
                },
            )
        }
    )
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert registry.shared_cache("a") is not None
    assert registry.shared_cache("a").cache.down  # type: ignore[union-attr]


def test_unix_socket_urls_are_accepted(
    make_registry: MakeRegistry, emulator: TokenEmulator
) -> None:
    registry = make_registry(
        {
            "a": profile(
                emulator,
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": "unix:///nonexistent/redis.sock",
                    "timeout": 0.2,
                },
            )
        }
    )
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)


def test_import_tokenrack_and_a_file_cache_import_neither_redis_nor_cryptography() -> None:
    code = (
        "import sys, tempfile, tokenrack\n"
        "from tokenrack.testing import TokenEmulator\n"
        "with TokenEmulator() as e:\n"
        "    r = tokenrack.Registry.from_dict({'version': 1, 'profiles': {'a': {\n"
        "        'provider': 'generic', 'token_url': e.token_url, 'client_id': 'test-client',\n"
        "        'client_secret': 'test-secret',\n"
        "        'cache': {'backend': 'file', 'path': tempfile.mkdtemp() + '/c'}}}})\n"
        "    r.get_token('a')\n"
        "print([m for m in ('redis', 'cryptography') if m in sys.modules])\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", (done.stderr, time.monotonic() - started)


def test_without_the_redis_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(CacheError, match=r"pip install 'tokenrack\[redis\]'"):
        RedisCache({"url": "redis://127.0.0.1:6379/0"}, secrets={})
