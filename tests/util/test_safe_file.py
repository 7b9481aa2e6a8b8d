"""Private files: the one atomic 0600 write the cache, the CLI snapshot and TLS material share."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tokenrack.util import safe_file
from tokenrack.util.safe_file import write_private


@pytest.mark.parametrize("durable", [True, False])
def test_write_private_creates_a_0600_file(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "record.token"
    write_private(str(path), b"one", durable=durable)
    assert path.read_bytes() == b"one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["record.token"]


def test_write_private_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    write_private(str(path), b"new", durable=False)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a new file, not the old one rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


def test_write_private_fsyncs_file_and_directory_only_when_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[-1])
    write_private(str(tmp_path / "a"), b"x", durable=False)
    assert synced == []
    write_private(str(tmp_path / "b"), b"x", durable=True)
    assert len(synced) == 2  # the file before the rename, the directory after it


def test_a_failed_rename_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: str, target: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safe_file.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_private(str(tmp_path / "record.token"), b"x", durable=True)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private(str(tmp_path / "absent" / "record.token"), b"x", durable=False)


def test_a_key_read_before_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = str(tmp_path / "keys")
    first = safe_file.private_key(directory, "user.key", 32)
    reads: list[str] = []
    real = safe_file.read_private

    def counting(path: str) -> bytes | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(safe_file, "read_private", counting)
    assert safe_file.private_key(directory, "user.key", 32) == first
    assert reads == []


def test_a_replaced_key_or_a_directory_opened_to_others_is_checked_again(
    tmp_path: Path,
) -> None:
    from tokenrack.errors import CacheError

    directory = tmp_path / "keys"
    first = safe_file.private_key(str(directory), "user.key", 32)
    replacement = directory / "new.key"
    replacement.write_bytes(b"k" * 32)
    replacement.chmod(0o600)
    replacement.replace(directory / "user.key")
    assert safe_file.private_key(str(directory), "user.key", 32) == b"k" * 32 != first
    directory.chmod(0o777)
    try:
        with pytest.raises(CacheError):
            safe_file.private_key(str(directory), "user.key", 32)
    finally:
        directory.chmod(0o700)
