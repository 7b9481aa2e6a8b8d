"""The ``file`` cache backend: one host, many processes (CLI calls, workers, cron jobs).

Records live in a directory (default ``$XDG_CACHE_HOME/tokenrack``, else
``~/.cache/tokenrack``) created with mode 0700. Each cache key has a record file and a lock
file, both named by a SHA-256 of the key (never a profile's name or secret) and created with
mode 0600. A record is replaced atomically: written to a temporary file in the same
directory, flushed and fsync'd, then renamed over the old one, so a reader sees the old
record or the new one, never half of one.

The cross-process lock is ``flock(LOCK_EX | LOCK_NB)`` on the key's lock file (as
botocore's and pip's caches do, not ``lockf``, whose locks are per process and vanish when
any descriptor of the file is closed). The kernel drops it when its holder exits, killed or
not, so a dead holder never blocks anyone.

Safety: a directory or file owned by another user, or writable by group or others, is
refused (:class:`~tokenrack.errors.CacheError`, naming the path and the fix): another user
could otherwise plant a token of their choosing or read ours. Symbolic links are not
followed. A record that is corrupt or truncated is the shared layer's business (a miss,
logged, then replaced).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from tokenrack.errors import CacheError
from tokenrack.secret import Secret

__all__ = ["FileCache", "default_cache_dir"]

_RECORD = ".token"
_LOCK = ".lock"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/tokenrack``, or ``~/.cache/tokenrack`` when that is unset."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tokenrack"


def file_stem(key: str) -> str:
    """The file name (without suffix) for cache key ``key``: a digest, never the key's parts."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class _FileLock:
    """A held ``flock`` on one lock file."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlock and close (closing alone would unlock; say it plainly)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


class FileCache:
    """Token records in a private directory, one file per cache key.

    Args:
        options: The profile's ``cache`` options (``path`` is used).
        secrets: Resolved secret options (none for this backend).

    Raises:
        CacheError: Never here; the directory is checked (and created) at first use, so a
            profile whose cache directory is unusable still gets tokens, fetched directly.
    """

    name: ClassVar[str] = "file"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "the cache directory (default $XDG_CACHE_HOME/tokenrack)",
            },
        },
    }
    secret_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: Mapping[str, Any], *, secrets: Mapping[str, Secret]) -> None:
        path = options.get("path")
        self.directory = (
            Path(os.path.expanduser(str(path))) if path else default_cache_dir()
        ).absolute()
        self._checked = False

    def __repr__(self) -> str:
        return f"FileCache({str(self.directory)!r})"

    def describe(self) -> str:
        """The directory."""
        return str(self.directory)

    # -- safety --------------------------------------------------------------------------

    def _refuse(self, path: Path, problem: str, fix: str) -> CacheError:
        return CacheError(
            f"refusing to use the token cache at {path}: {problem}; {fix}", backend=self.name
        )

    def _check_owner_and_mode(self, path: Path, info: os.stat_result, what: str) -> None:
        if info.st_uid != os.geteuid():
            raise self._refuse(
                path,
                f"the {what} is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})",
                f"remove it, or set cache.path to a {what} of your own",
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise self._refuse(
                path,
                f"the {what} is writable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o})",
                f"chmod {'700' if what == 'directory' else '600'} it, or remove it",
            )

    def _directory(self) -> Path:
        """The cache directory, created 0700 if missing and checked every time it is used."""
        directory = self.directory
        try:
            if not self._checked:
                directory.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    directory.mkdir(mode=0o700)
            info = os.lstat(directory)
        except OSError as error:
            raise self._refuse(
                directory, f"it cannot be created or read ({error.strerror})", "check cache.path"
            ) from None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise self._refuse(
                directory,
                "it is not a directory (a symbolic link is not followed)",
                "set cache.path to a directory",
            )
        self._check_owner_and_mode(directory, info, "directory")
        self._checked = True
        return directory

    def _open(self, path: Path, flags: int) -> int:
        """Open a file in the cache without following links, and check whose it is."""
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._refuse(path, "it is not a regular file", "remove it")
            self._check_owner_and_mode(path, info, "file")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _path(self, key: str, suffix: str) -> Path:
        return self._directory() / (file_stem(key) + suffix)

    # -- TokenCache ----------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The record file's content, or None when there is none.

        Raises:
            CacheError: The directory or file is unsafe or unreadable.
        """
        path = self._path(key, _RECORD)
        try:
            fd = self._open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise self._refuse(path, "it is a symbolic link", "remove it") from None
            raise CacheError(f"cannot read {path}: {error.strerror}", backend=self.name) from None
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Replace the record file atomically (temp file, fsync, rename), mode 0600.

        Raises:
            CacheError: The directory is unsafe, or the file cannot be written.
        """
        directory = self._directory()
        path = directory / (file_stem(key) + _RECORD)
        # An existing file that is not ours is refused, not silently replaced: whoever
        # put it there should hear about it.
        with contextlib.suppress(FileNotFoundError):
            os.close(self._open(path, os.O_RDONLY))
        try:
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=_RECORD, dir=directory)
        except OSError as error:
            raise CacheError(
                f"cannot write to {directory}: {error.strerror}", backend=self.name
            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(value)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise CacheError(f"cannot write {path}: {error.strerror}", backend=self.name) from None
        # The rename is durable only once the directory entry is on disk too.
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def delete(self, key: str) -> bool:
        """Remove the record file.

        Raises:
            CacheError: The directory is unsafe.
        """
        try:
            os.unlink(self._path(key, _RECORD))
        except FileNotFoundError:
            return False
        except OSError as error:
            raise CacheError(
                f"cannot remove a record: {error.strerror}", backend=self.name
            ) from None
        return True

    def try_lock(self, key: str, *, lease: float) -> _FileLock | None:
        """``flock`` the key's lock file without waiting; None if another holder has it.

        The lease is not needed: the kernel releases the lock when its holder dies.

        Raises:
            CacheError: The directory or lock file is unsafe.
        """
        path = self._path(key, _LOCK)
        try:
            fd = self._open(path, os.O_RDWR | os.O_CREAT)
        except OSError as error:
            raise CacheError(f"cannot open {path}: {error.strerror}", backend=self.name) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as error:
            os.close(fd)
            raise CacheError(f"cannot lock {path}: {error.strerror}", backend=self.name) from None
        return _FileLock(fd)

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every record file (path, content); unsafe or vanished files are skipped.

        Raises:
            CacheError: The directory is unsafe.
        """
        directory = self._directory()
        for path in sorted(directory.glob("*" + _RECORD)):
            if path.name.startswith(".tmp-"):
                continue
            try:
                fd = self._open(path, os.O_RDONLY)
            except (OSError, CacheError):
                continue
            with os.fdopen(fd, "rb") as handle:
                yield str(path), handle.read()

    def close(self) -> None:
        """Nothing to release: files are opened per call."""
