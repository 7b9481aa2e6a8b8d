"""The file backend: permissions, atomic replacement, locks, and files that are not right."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, TOKEN_MARK, LeakGuard, profile, without_coverage
from tokenrack.cache.file import FileCache
from tokenrack.cache.paths import default_cache_directory, file_stem
from tokenrack.cache.record import FORMAT, MAX_RECORD_BYTES, decode_record
from tokenrack.core.registry import Registry
from tokenrack.errors import CacheError
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]
FOREIGN_UID = 54321


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def file_profile(emulator: TokenEmulator, cache_dir: Path, **cache: Any) -> dict[str, Any]:
    return profile(emulator, cache={"backend": "file", "path": str(cache_dir), **cache})


def record_path(registry: Registry, cache_dir: Path) -> Path:
    return cache_dir / (file_stem(registry.runtime("a").cache_key) + ".token")


def test_directory_0700_file_0600_named_by_a_hash(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path
) -> None:
    registry = make_registry({"a": file_profile(emulator, cache_dir, lock_lease=3)})
    token = registry.get_token("a")
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    names = sorted(p.name for p in cache_dir.iterdir())
    stem = file_stem(registry.runtime("a").cache_key)
    # Beside the records, the per-user key the credential fingerprints are keyed with.
    assert names == sorted([stem + ".lock", stem + ".token", "fingerprint.key"])
    for path in cache_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert CLIENT_ID not in path.name and path.stem != "a"
    # No secret in a name; the record holds the token (it is a bearer credential).
    data = record_path(registry, cache_dir).read_bytes()
    assert TOKEN_MARK.encode() in data
    stored = decode_record(data, key=registry.runtime("a").cache_key, now=time.time())
    assert stored.token.access_token == token.access_token


def test_default_directory_follows_xdg() -> None:
    assert default_cache_directory({"XDG_CACHE_HOME": "/x/y"}) == "/x/y/tokenrack"
    assert Path(default_cache_directory({})).parts[-2:] == (".cache", "tokenrack")


def test_cache_file_shorthand_uses_xdg_cache_home(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    registry = make_registry({"a": profile(emulator, cache="file")})
    registry.get_token("a")
    assert len(list((tmp_path / "xdg" / "tokenrack").glob("*.token"))) == 1


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("corrupt", lambda data: b"\x00\xff not json at all"),
        ("truncated", lambda data: data[: len(data) // 2]),
        ("empty", lambda data: b""),
        (
            "older format",
            lambda data: json.dumps({**json.loads(data), "format": FORMAT - 1}).encode(),
        ),
        (
            "newer format",
            lambda data: json.dumps({**json.loads(data), "format": FORMAT + 1}).encode(),
        ),
        (
            "no format",
            lambda data: json.dumps(
                {k: v for k, v in json.loads(data).items() if k != "format"}
            ).encode(),
        ),
        ("wrong types", lambda data: json.dumps({**json.loads(data), "lifetime": "soon"}).encode()),
        ("not an object", lambda data: b"[1, 2, 3]"),
        ("too large", lambda data: data[:-1] + b" " * (MAX_RECORD_BYTES + 1) + data[-1:]),
        ("infinite lifetime", lambda data: data.replace(b'"lifetime":', b'"lifetime":1e999,"x":')),
    ],
)
def test_a_damaged_or_foreign_format_record_is_a_miss_logged_and_replaced(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cache_dir: Path,
    leak_guard: LeakGuard,
    name: str,
    damage: Callable[[bytes], bytes],
) -> None:
    first = make_registry({"a": file_profile(emulator, cache_dir)})
    first.get_token("a")
    path = record_path(first, cache_dir)
    path.write_bytes(damage(path.read_bytes()))
    second = make_registry({"a": file_profile(emulator, cache_dir)})
    token = second.get_token("a")
    assert emulator.request_count == 2
    assert any("unusable" in line and "miss" in line for line in leak_guard.lines)
    replaced = decode_record(path.read_bytes(), key=second.runtime("a").cache_key, now=time.time())
    assert replaced.token.access_token == token.access_token


def test_a_record_copied_from_another_key_is_refused(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path
) -> None:
    registry = make_registry(
        {
            "a": file_profile(emulator, cache_dir),
            "b": file_profile(emulator, cache_dir) | {"scopes": ["b"]},
        }
    )
    token_a = registry.get_token("a")
    key_b = registry.runtime("b").cache_key
    (cache_dir / (file_stem(key_b) + ".token")).write_bytes(
        record_path(registry, cache_dir).read_bytes()
    )
    assert registry.get_token("b").access_token != token_a.access_token
    assert emulator.request_count == 2


def test_a_file_owned_by_another_user_is_refused_and_left_alone(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    cache_dir: Path,
    leak_guard: LeakGuard,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a file another user's needs root")
    first = make_registry({"a": file_profile(emulator, cache_dir)})
    first.get_token("a")
    path = record_path(first, cache_dir)
    os.chown(path, FOREIGN_UID, FOREIGN_UID)
    before = path.read_bytes()
    second = make_registry({"a": file_profile(emulator, cache_dir)})
    assert second.get_token("a").access_token.startswith(TOKEN_MARK)
    assert emulator.request_count == 2  # not read
    assert path.read_bytes() == before  # not replaced
    assert any(f"owned by uid {FOREIGN_UID}" in line for line in leak_guard.lines)


def test_a_directory_owned_by_another_user_is_refused(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, leak_guard: LeakGuard
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a directory another user's needs root")
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, FOREIGN_UID, FOREIGN_UID)
    registry = make_registry({"a": file_profile(emulator, cache_dir)})
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert list(cache_dir.iterdir()) == []
    assert any("the directory is owned by uid" in line for line in leak_guard.lines)


def test_a_world_writable_file_is_refused(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, leak_guard: LeakGuard
) -> None:
    first = make_registry({"a": file_profile(emulator, cache_dir)})
    first.get_token("a")
    path = record_path(first, cache_dir)
    path.chmod(0o666)
    second = make_registry({"a": file_profile(emulator, cache_dir)})
    second.get_token("a")
    assert emulator.request_count == 2
    assert any("writable by group or others (mode 0666)" in line for line in leak_guard.lines)


def test_a_symlinked_record_is_refused(
    emulator: TokenEmulator, make_registry: MakeRegistry, cache_dir: Path, tmp_path: Path
) -> None:
    first = make_registry({"a": file_profile(emulator, cache_dir)})
    first.get_token("a")
    path = record_path(first, cache_dir)
    elsewhere = tmp_path / "elsewhere.token"
    elsewhere.write_bytes(path.read_bytes())
    elsewhere.chmod(0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(CacheError, match="symbolic link"):
        FileCache({"path": str(cache_dir)}, secrets={}).get(first.runtime("a").cache_key)


def test_the_directory_must_be_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(CacheError, match="not a directory"):
        FileCache({"path": str(target)}, secrets={}).get("k")


def test_set_replaces_atomically_and_leaves_no_temporary_file(cache_dir: Path) -> None:
    cache = FileCache({"path": str(cache_dir)}, secrets={})
    cache.set("k", b"one", ttl=60)
    cache.set("k", b"two", ttl=60)
    assert cache.get("k") == b"two"
    assert [p.name for p in cache_dir.iterdir()] == [file_stem("k") + ".token"]
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert cache.get("k") is None


def test_entries_lists_records(cache_dir: Path) -> None:
    cache = FileCache({"path": str(cache_dir)}, secrets={})
    cache.set("k1", b"one", ttl=60)
    cache.set("k2", b"two", ttl=60)
    assert sorted(data for _, data in cache.entries()) == [b"one", b"two"]


LOCK_IN_CHILD = """
import sys, time
from tokenrack.cache.file import FileCache
lock = FileCache({"path": sys.argv[1]}, secrets={}).try_lock("k", lease=5)
print("held" if lock else "busy", flush=True)
sys.stdin.readline()
"""


def test_the_lock_excludes_another_process_and_dies_with_it(cache_dir: Path) -> None:
    cache = FileCache({"path": str(cache_dir)}, secrets={})
    child = subprocess.Popen(
        [sys.executable, "-c", LOCK_IN_CHILD, str(cache_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert cache.try_lock("k", lease=5) is None
    finally:
        child.kill()
        child.communicate(timeout=10)
    lock = cache.try_lock("k", lease=5)
    assert lock is not None
    lock.release()


def test_a_process_served_from_a_warm_file_cache_never_imports_requests(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: object
) -> None:
    cache = {"backend": "file", "path": f"{tmp_path}/c"}
    make_registry({"a": profile(emulator, cache=cache)}).get_token("a")
    config = {"version": 1, "profiles": {"a": profile(emulator, cache=cache)}}
    code = (
        "import json, sys\n"
        "from tokenrack import Registry\n"
        f"registry = Registry.from_dict(json.loads({json.dumps(json.dumps(config))}))\n"
        "registry.get_token('a')\n"
        "print('requests' in sys.modules, 'urllib3' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    )
    assert done.stdout.split() == ["False", "False"]
    assert emulator.request_count == 1


def test_a_record_file_is_read_no_further_than_the_size_cap(cache_dir: Path) -> None:
    cache = FileCache({"path": str(cache_dir)}, secrets={})
    cache.set("k", b"{" + b" " * (4 * MAX_RECORD_BYTES) + b"}", ttl=60)
    assert len(cache.get("k") or b"") == MAX_RECORD_BYTES + 1
    cache.set("k", b"small", ttl=60)
    assert cache.get("k") == b"small"
