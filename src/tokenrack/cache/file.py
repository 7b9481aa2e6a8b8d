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
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from tokenrack.cache.envelope import MAX_RECORD_BYTES
from tokenrack.cache.paths import RECORD_SUFFIX, default_cache_directory, record_path
from tokenrack.errors import CacheError
from tokenrack.util.safe_file import check_directory, open_private, write_private

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from tokenrack.secret.value import Secret

__all__ = ["FileCache"]

_LOCK = ".lock"


class _FileLock:
    """A held ``flock`` on one lock file."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlock and close (closing alone would unlock; say it plainly)."""
        import fcntl

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
                "description": "the cache directory (default $XDG_CACHE_HOME/tokenrack); "
                "a relative path is the config file's directory's",
            },
        },
    }
    secret_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: Mapping[str, Any], *, secrets: Mapping[str, Secret]) -> None:
        path = options.get("path")
        self.directory = (
            Path(os.path.expanduser(str(path))) if path else Path(default_cache_directory())
        ).absolute()
        self._checked = False

    def __repr__(self) -> str:
        return f"FileCache({str(self.directory)!r})"

    def describe(self) -> str:
        """The directory."""
        return str(self.directory)

    # -- safety --------------------------------------------------------------------------

    def _directory(self) -> Path:
        """The cache directory, created 0700 if missing and checked every time it is used."""
        directory = self.directory
        if not self._checked:
            try:
                directory.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    directory.mkdir(mode=0o700)
            except OSError as error:
                raise CacheError(
                    f"refusing to use the token cache at {directory}: it cannot be created "
                    f"({error.strerror}); check cache.path",
                    backend=self.name,
                ) from None
        check_directory(str(directory))
        self._checked = True
        return directory

    def _open(self, path: Path, flags: int) -> int:
        """Open a file in the cache without following links, and check whose it is."""
        return open_private(str(path), flags)

    def _path(self, key: str, suffix: str) -> Path:
        return Path(record_path(str(self._directory()), key, suffix=suffix))

    # -- TokenCache ----------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The record file's content, or None when there is none.

        Read only up to one byte past the record size cap: a larger file is then refused
        unparsed by the shared layer.

        Raises:
            CacheError: The directory or file is unsafe or unreadable.
        """
        path = self._path(key, RECORD_SUFFIX)
        try:
            fd = self._open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CacheError(f"cannot read {path}: {error.strerror}", backend=self.name) from None
        with os.fdopen(fd, "rb") as handle:
            return handle.read(MAX_RECORD_BYTES + 1)

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Replace the record file atomically (temp file, fsync, rename), mode 0600.

        Raises:
            CacheError: The directory is unsafe, or the file cannot be written.
        """
        path = self._path(key, RECORD_SUFFIX)
        # An existing file that is not ours is refused, not silently replaced: whoever
        # put it there should hear about it.
        with contextlib.suppress(FileNotFoundError):
            os.close(self._open(path, os.O_RDONLY))
        try:
            write_private(str(path), value, durable=True)
        except OSError as error:
            raise CacheError(f"cannot write {path}: {error.strerror}", backend=self.name) from None

    def delete(self, key: str) -> bool:
        """Remove the record file.

        Raises:
            CacheError: The directory is unsafe.
        """
        try:
            os.unlink(self._path(key, RECORD_SUFFIX))
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
        import fcntl  # here: every config loads this backend's class, few use its locks

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
        for path in sorted(directory.glob("*" + RECORD_SUFFIX)):
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
