"""The shared layer in one process: registries standing in for processes, on one cache.

Two registries share nothing in memory, so a second registry on the same file cache is a
second process as far as tokenrack can tell. A FakeClock moves both through the windows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK, FakeClock, LeakGuard, profile, wait_until, without_coverage
from tokenrack.cache.file import FileCache
from tokenrack.cache.guard import GuardedCache
from tokenrack.cache.memory import MemoryCache
from tokenrack.cache.record import RecordCipher, decode_record
from tokenrack.cache.settings import CacheSettings, cache_settings
from tokenrack.core.cache_wiring import SharedCaches
from tokenrack.core.catalog import PluginCatalog
from tokenrack.core.registry import Registry
from tokenrack.core.shared import SharedRefresh
from tokenrack.core.store import RefreshWindows, Slot
from tokenrack.errors import CacheError, PluginError, SecretError
from tokenrack.secret.value import Secret
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def file_profile(emulator: TokenEmulator, cache_dir: Path, **cache: Any) -> dict[str, Any]:
    return profile(emulator, cache={"backend": "file", "path": str(cache_dir), **cache})


def fleet(
    make_registry: MakeRegistry, profiles: dict[str, Any], clock: FakeClock, n: int
) -> list[Registry]:
    return [make_registry(profiles, clock=clock, rng=random.Random(seed)) for seed in range(n)]


def test_a_second_process_adopts_the_stored_token(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    first, second = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 2)
    token = first.get_token("a")
    assert second.get_token("a").access_token == token.access_token
    assert emulator.request_count == 1
    # The adopted token sits in the second process's memory front: no more reads needed.
    assert second.cached("a") is not None


def test_early_window_exactly_one_process_refreshes_and_nobody_waits(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    registries = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 4)
    old = registries[0].get_token("a")
    for registry in registries[1:]:
        assert registry.get_token("a").access_token == old.access_token
    assert emulator.request_count == 1
    # 3600 s tokens: every process's early window (jittered) is open at 3450 s, the
    # mandatory one (3570 s) is not.
    clock.advance(3450)
    emulator.gate.clear()
    served = [registry.get_token("a") for registry in registries]
    # Nobody waited: everyone got the old token while one refresh is held at the server.
    assert {t.access_token for t in served} == {old.access_token}
    wait_until(lambda: emulator.request_count == 2)
    emulator.gate.set()
    wait_until(lambda: len(emulator.issued_tokens) == 2)
    new = emulator.issued_tokens[-1]
    for registry in registries:
        wait_until(lambda r=registry: r.get_token("a").access_token == new)  # type: ignore[misc]
    assert emulator.request_count == 2


def test_mandatory_window_one_fetch_for_the_whole_fleet(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    registries = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 3)
    for registry in registries:
        registry.get_token("a")
    clock.advance(3590)
    tokens = {registry.get_token("a").access_token for registry in registries}
    assert len(tokens) == 1
    assert emulator.request_count == 2


def test_an_expired_shared_token_is_not_adopted(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    first, second = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 2)
    old = first.get_token("a")
    clock.advance(3601)
    assert second.get_token("a").access_token != old.access_token
    assert emulator.request_count == 2


def test_a_rejected_token_is_refreshed_once_for_the_fleet(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    first, second = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 2)
    rejected = first.get_token("a")
    second.get_token("a")
    # Both see the token rejected (a 401, say): the shared copy is not handed back.
    assert first.invalidate("a", token=rejected, reason="401")
    renewed = first.get_token("a")
    assert renewed.access_token != rejected.access_token
    assert second.invalidate("a", token=rejected, reason="401")
    assert second.get_token("a").access_token == renewed.access_token
    assert emulator.request_count == 2


def test_force_refresh_fetches_even_with_a_fresh_shared_token(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    first, second = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 2)
    old = first.get_token("a")
    forced = second.get_token("a", force_refresh=True)
    assert forced.access_token != old.access_token
    assert emulator.request_count == 2
    # The forced token is shared: a third process adopts it.
    (third,) = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 1)
    assert third.get_token("a").access_token == forced.access_token


def test_profiles_that_differ_never_share_a_record(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    registry = make_registry(
        {
            "read": file_profile(emulator, cache_dir, lock_lease=1) | {"scopes": ["read"]},
            "write": file_profile(emulator, cache_dir) | {"scopes": ["write"]},
        },
        clock=clock,
    )
    assert registry.get_token("read").scopes != registry.get_token("write").scopes
    assert emulator.request_count == 2
    assert len(list(cache_dir.glob("*.token"))) == 2


# -- encryption --------------------------------------------------------------------------


def test_encrypted_records_hold_no_readable_token_and_decrypt_only_under_their_key(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    key = "k" * 43
    profiles = {
        "a": file_profile(emulator, cache_dir, encryption_key=key),
        "b": file_profile(emulator, cache_dir, encryption_key=key) | {"scopes": ["other"]},
    }
    first, second = fleet(make_registry, profiles, clock, 2)
    token_a = first.get_token("a")
    first.get_token("b")
    files = {p.read_bytes(): p for p in cache_dir.glob("*.token")}
    assert len(files) == 2
    assert all(TOKEN_MARK.encode() not in data for data in files)
    # Move a's record over b's: b's key is the associated data, so it does not decrypt.
    path_a = FileCache({"path": str(cache_dir)}, secrets={})._path(
        first.runtime("a").cache_key, ".token"
    )
    path_b = FileCache({"path": str(cache_dir)}, secrets={})._path(
        first.runtime("b").cache_key, ".token"
    )
    data_a = path_a.read_bytes()
    path_b.write_bytes(
        data_a.replace(first.runtime("a").cache_key.encode(), first.runtime("b").cache_key.encode())
    )
    got_b = second.get_token("b")
    assert got_b.access_token != token_a.access_token
    assert emulator.request_count == 3
    # The bad record was replaced by a good one under b's key.
    cipher = RecordCipher(Secret(key))
    stored = decode_record(
        path_b.read_bytes(), key=first.runtime("b").cache_key, now=clock.time(), cipher=cipher
    )
    assert stored.token.access_token == got_b.access_token


def test_an_encrypted_cache_refuses_a_planted_plaintext_record(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, clock: FakeClock
) -> None:
    (plain,) = fleet(make_registry, {"a": file_profile(emulator, cache_dir)}, clock, 1)
    planted = plain.get_token("a")
    (encrypted,) = fleet(
        make_registry, {"a": file_profile(emulator, cache_dir, encryption_key="x" * 40)}, clock, 1
    )
    assert encrypted.get_token("a").access_token != planted.access_token
    assert emulator.request_count == 2


def test_encryption_key_is_resolved_lazily_and_its_absence_is_a_secret_error(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKENRACK_TEST_CACHE_KEY", raising=False)
    registry = make_registry(
        {
            "a": file_profile(
                emulator, cache_dir, encryption_key={"env": "TOKENRACK_TEST_CACHE_KEY"}
            ),
            "b": profile(emulator, scopes=["b"]),
        }
    )
    registry.get_token("b")  # a profile without the key is not held up by it
    with pytest.raises(SecretError) as caught:
        registry.get_token("a")
    assert "cache.encryption_key" in str(caught.value)
    monkeypatch.setenv("TOKENRACK_TEST_CACHE_KEY", "y" * 40)
    registry2 = make_registry(
        {"a": file_profile(emulator, cache_dir, encryption_key={"env": "TOKENRACK_TEST_CACHE_KEY"})}
    )
    assert registry2.get_token("a").access_token.startswith(TOKEN_MARK)


# -- failures of the cache never fail a caller ------------------------------------------


class BrokenCache(MemoryCache):
    """A backend that fails every call while ``broken`` is set."""

    broken = True
    calls = 0

    def get(self, key: str) -> bytes | None:
        BrokenCache.calls += 1
        if BrokenCache.broken:
            raise CacheError("simulated outage", backend="memory")
        return super().get(key)

    def try_lock(self, key: str, *, lease: float) -> Any:
        if BrokenCache.broken:
            raise CacheError("simulated outage", backend="memory")
        return super().try_lock(key, lease=lease)


@pytest.fixture
def broken() -> Iterator[type[BrokenCache]]:
    BrokenCache.broken = True
    BrokenCache.calls = 0
    yield BrokenCache


def test_breaker_one_warning_per_outage_then_back(
    broken: type[BrokenCache], clock: FakeClock, leak_guard: LeakGuard
) -> None:
    cache = GuardedCache(lambda: broken(), name="memory", clock=clock)
    assert cache.get("k") is None
    assert cache.try_lock("k", lease=1) is not None  # the local stand-in: fetch on our own
    assert cache.get("k") is None
    assert broken.calls == 1  # the open breaker did not ask again
    clock.advance(1.5)
    assert cache.get("k") is None
    assert broken.calls == 2
    broken.broken = False
    clock.advance(5)
    assert cache.set("k", b"v", ttl=10)
    assert cache.get("k") == b"v"
    outage = [line for line in leak_guard.lines if "unavailable (" in line]
    assert len(outage) == 1
    assert "simulated outage" in outage[0]
    assert sum("answers again after" in line for line in leak_guard.lines) == 1


def test_a_backend_that_raises_anything_is_an_outage_not_an_error(clock: FakeClock) -> None:
    class Exploding(MemoryCache):
        def get(self, key: str) -> bytes | None:
            raise RuntimeError("boom")

    cache = GuardedCache(lambda: Exploding(), name="x", clock=clock)
    assert cache.get("k") is None
    assert cache.down


def test_an_unsafe_file_cache_still_gives_tokens(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cache_dir: Path,
    leak_guard: LeakGuard,
) -> None:
    cache_dir.mkdir(mode=0o777)
    cache_dir.chmod(0o777)
    registry = make_registry({"a": file_profile(emulator, cache_dir)})
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    refusals = [line for line in leak_guard.lines if "refusing to use the token cache" in line]
    assert len(refusals) == 1
    assert "writable by group or others" in refusals[0]
    assert list(cache_dir.iterdir()) == []


def test_cache_failure_is_logged_without_secrets(
    emulator: TokenEmulator, make_registry: MakeRegistry, leak_guard: LeakGuard
) -> None:
    registry = make_registry(
        {
            "a": profile(
                emulator,
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": "redis://user:CANARYSECRET@127.0.0.1:1/0",
                    "password": "CANARYSECRET-too",
                    "timeout": 0.2,
                },
            )
        }
    )
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert any("redis://127.0.0.1:1/0" in line for line in leak_guard.lines)
    # The leak guard fails this test if the password shows anywhere.


def test_without_cryptography_an_encrypting_profile_never_stores_in_the_clear(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cache_dir: Path,
    leak_guard: LeakGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    registry = make_registry({"a": file_profile(emulator, cache_dir, encryption_key="k" * 40)})
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert not cache_dir.exists() or list(cache_dir.glob("*.token")) == []
    assert any("tokenrack[encryption]" in line for line in leak_guard.lines)


# -- cache/settings: a profile's ``cache`` option, normalised ------------------------------


def test_cache_settings_normalises_names_and_mappings() -> None:
    assert cache_settings(None) == CacheSettings("memory")
    assert cache_settings("file") == CacheSettings("file")
    password = Secret("CANARYSECRET-pw")
    settings = cache_settings(
        {
            "backend": "redis",
            "plaintext": True,
            "url": "redis://h",
            "password": password,
            "lock_lease": 3,
        },
        secret_options=frozenset({"password"}),
    )
    assert settings.backend == "redis"
    assert settings.options == {"url": "redis://h", "plaintext": True}
    assert settings.secrets == {"password": password}
    assert settings.lock_lease == 3.0
    assert settings.encryption_key is None


def test_cache_settings_identity_ignores_order_and_separates_secrets() -> None:
    one = cache_settings({"backend": "file", "path": "/a", "x": 1})
    same = cache_settings({"x": 1, "path": "/a", "backend": "file"})
    other = cache_settings({"backend": "file", "path": "/b", "x": 1})
    assert one.identity() == same.identity() != other.identity()
    pw = frozenset({"password"})
    a = cache_settings(
        {"backend": "redis", "plaintext": True, "password": Secret("CANARYSECRET-1")},
        secret_options=pw,
    )
    b = cache_settings(
        {"backend": "redis", "plaintext": True, "password": Secret("CANARYSECRET-1")},
        secret_options=pw,
    )
    assert a.identity() != b.identity()  # two inline secrets are never assumed equal
    assert "CANARYSECRET" not in a.identity()


def test_importing_cache_settings_stays_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import tokenrack.cache.settings; "
        "print(','.join(m for m in ('cryptography', 'redis', 'requests', 'tokenrack.core.shared') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    ).stdout
    assert out.strip() == ""


# -- core/cache_wiring: from the option to a profile's shared layer -------------------------


def wiring_refresh(caches: SharedCaches, option: Any, **changes: Any) -> SharedRefresh | None:
    def fetch(reason: str) -> Any:
        raise AssertionError("no fetch expected")

    def resolve(path: str, value: Any) -> Secret:
        return value if isinstance(value, Secret) else Secret(str(value))

    arguments: dict[str, Any] = {
        "key": "k",
        "profile": "a",
        "fetch": fetch,
        "windows": RefreshWindows(),
        "slot": Slot(),
        "resolve_secret": resolve,
        "default_lease": 15.0,
        **changes,
    }
    shared = caches.cache_for(option, arguments["resolve_secret"])
    return None if shared is None else caches.refresh(shared, **arguments)


def test_wiring_gives_memory_profiles_no_shared_layer(clock: FakeClock) -> None:
    caches = SharedCaches(PluginCatalog(), clock)
    assert wiring_refresh(caches, None) is None
    assert wiring_refresh(caches, "memory") is None
    assert wiring_refresh(caches, {"backend": "memory"}) is None


def test_wiring_shares_one_breaker_per_identical_setting(clock: FakeClock, cache_dir: Path) -> None:
    caches = SharedCaches(PluginCatalog(), clock)
    option = {"backend": "file", "path": str(cache_dir)}
    first = wiring_refresh(caches, option)
    second = wiring_refresh(caches, dict(option), key="k2", profile="b")
    other = wiring_refresh(caches, {"backend": "file", "path": str(cache_dir / "x")})
    assert first is not None and second is not None and other is not None
    assert first.cache is second.cache
    assert other.cache is not first.cache
    assert (first.key, second.profile) == ("k", "b")
    caches.close()


def test_wiring_lease_is_the_configured_one_or_the_profiles_timeouts(
    clock: FakeClock, cache_dir: Path
) -> None:
    caches = SharedCaches(PluginCatalog(), clock)
    default = wiring_refresh(caches, {"backend": "file", "path": str(cache_dir)})
    configured = wiring_refresh(
        caches, {"backend": "file", "path": str(cache_dir), "lock_lease": 2}
    )
    assert default is not None and configured is not None
    assert (default.lease, configured.lease) == (15.0, 2.0)


def test_wiring_unknown_backend_is_a_plugin_error(clock: FakeClock) -> None:
    with pytest.raises(PluginError, match="nosuchcache"):
        wiring_refresh(SharedCaches(PluginCatalog(), clock), "nosuchcache")


def test_wiring_builds_the_backend_at_first_use_and_a_bad_secret_opens_the_breaker(
    clock: FakeClock,
) -> None:
    resolved: list[str] = []

    def resolve(path: str, value: Any) -> Secret:
        resolved.append(path)
        raise SecretError("CANARY_PW is not set")

    caches = SharedCaches(PluginCatalog(), clock)
    shared = wiring_refresh(
        caches,
        {
            "backend": "redis",
            "plaintext": True,
            "url": "redis://127.0.0.1:1/0",
            "password": Secret("x"),
        },
        resolve_secret=resolve,
    )
    assert shared is not None
    assert resolved == []  # nothing read until the cache is used
    with pytest.raises(CacheError, match="CANARY_PW is not set"):
        shared.cache.backend()
    assert resolved == ["cache.password"]
    assert shared.cache.get("k") is None and shared.cache.down
