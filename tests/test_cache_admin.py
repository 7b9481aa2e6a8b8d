"""The administration API the CLI's ``cache list | purge`` calls: metadata only."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import TOKEN_MARK, FakeClock, profile
from tokenrack.cache_admin import list_cache_entries, purge_cache
from tokenrack.core.registry import Registry
from tokenrack.errors import ProfileNotFoundError
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]


def test_list_shows_memory_and_shared_entries_without_tokens(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> None:
    registry = make_registry(
        {
            "mem": profile(emulator, scopes=["m"]),
            "file": profile(
                emulator,
                scopes=["f"],
                cache={"backend": "file", "path": str(tmp_path / "c"), "encryption_key": "k" * 40},
            ),
            "redis": profile(
                emulator,
                scopes=["r"],
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": redis_url,
                    "key_prefix": redis_prefix,
                },
            ),
            "cold": profile(emulator, scopes=["c"], cache="file"),
        }
    )
    for name in ("mem", "file", "redis"):
        registry.get_token(name)
    entries = list_cache_entries(registry)
    summary = [(e.profile, e.backend, e.state, e.encrypted) for e in entries]
    assert summary == [
        ("mem", "memory", "fresh", False),
        ("file", "memory", "fresh", False),
        ("file", "file", "fresh", True),
        ("redis", "memory", "fresh", False),
        ("redis", "redis", "fresh", False),
        ("cold", "file", "absent", False),
    ]
    assert all(e.expires_in is None or 3500 < e.expires_in <= 3600 for e in entries)
    assert entries[2].location == str(tmp_path / "c")
    assert redis_prefix in entries[4].location
    assert TOKEN_MARK not in repr(entries)
    assert [e.profile for e in list_cache_entries(registry, profile="redis")] == ["redis", "redis"]


def test_list_reports_expired_unreadable_and_unavailable(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path, clock: FakeClock
) -> None:
    registry = make_registry(
        {
            "a": profile(emulator, cache={"backend": "file", "path": str(tmp_path / "c")}),
            "down": profile(
                emulator,
                scopes=["d"],
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": "redis://127.0.0.1:1",
                    "timeout": 0.2,
                },
            ),
        },
        clock=clock,
    )
    registry.get_token("a")
    clock.advance(4000)
    states = {(e.profile, e.backend): e.state for e in list_cache_entries(registry, clock=clock)}
    assert states[("a", "memory")] == "expired"
    (record,) = (tmp_path / "c").glob("*.token")
    record.write_bytes(b"{broken")
    entries = {(e.profile, e.backend): e for e in list_cache_entries(registry, clock=clock)}
    assert entries[("a", "file")].state == "unreadable"
    assert entries[("down", "redis")].state == "unavailable"
    assert "redis://127.0.0.1:1" in entries[("down", "redis")].detail


def test_purge_one_profile_then_all(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    cache = {"backend": "file", "path": str(tmp_path / "c")}
    registry = make_registry(
        {"a": profile(emulator, cache=cache), "b": profile(emulator, scopes=["b"], cache=cache)}
    )
    first = registry.get_token("a")
    registry.get_token("b")
    result = purge_cache(registry, profile="a")
    assert (result.memory, result.shared, result.failed) == (("a",), ("a",), ())
    assert len(list((tmp_path / "c").glob("*.token"))) == 1
    assert registry.get_token("a").access_token != first.access_token
    result = purge_cache(registry)
    assert set(result.shared) == {"a", "b"}
    assert list((tmp_path / "c").glob("*.token")) == []
    with pytest.raises(ProfileNotFoundError):
        purge_cache(registry, profile="nope")


def test_purge_reports_a_cache_it_cannot_reach(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    os.chmod(directory, 0o777)
    registry = make_registry(
        {"a": profile(emulator, cache={"backend": "file", "path": str(directory)})}
    )
    result = purge_cache(registry)
    assert [name for name, _ in result.failed] == ["a"]
    assert "writable by group or others" in result.failed[0][1]


def test_a_profile_whose_secret_cannot_be_read_is_listed_unavailable_and_not_purged(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TR_TEST_UNSET", raising=False)
    cache = {"backend": "file", "path": str(tmp_path / "c")}
    registry = make_registry(
        {
            "ok": profile(emulator, cache=cache),
            "unset": profile(emulator, cache=cache, client_secret={"env": "TR_TEST_UNSET"}),
        }
    )
    registry.get_token("ok")
    entries = {e.profile: e for e in list_cache_entries(registry) if e.backend == "file"}
    assert entries["ok"].state == "fresh"
    unset = entries["unset"]
    assert unset.state == "unavailable" and "TR_TEST_UNSET is not set" in unset.detail
    result = purge_cache(registry)
    assert result.shared == ("ok",)
    assert [name for name, _ in result.failed] == ["unset"]
