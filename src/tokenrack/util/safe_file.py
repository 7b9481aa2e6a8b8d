"""Private files: opened without following links, only if ours alone, and written atomically.

The file cache keeps bearer tokens; a directory or file that another user owns, or that
group or others may write, could let them plant a token of their choosing or read ours,
so both are refused. Standard library only, so the CLI's warm path can use it cheaply.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from tokenrack.errors import CacheError

__all__ = [
    "check_directory",
    "check_owner_and_mode",
    "open_private",
    "private_key",
    "read_private",
    "write_private",
]


def _refuse(path: str, problem: str, fix: str) -> CacheError:
    return CacheError(
        f"refusing to use the token cache at {path}: {problem}; {fix}", backend="file"
    )


def check_owner_and_mode(path: str, info: os.stat_result, what: str) -> None:
    """Refuse what another user owns or group/others may write.

    Raises:
        CacheError: Naming the path, the problem and the fix.
    """
    if info.st_uid != os.geteuid():
        raise _refuse(
            path,
            f"the {what} is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})",
            f"remove it, or set cache.path to a {what} of your own",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _refuse(
            path,
            f"the {what} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"chmod {'700' if what == 'directory' else '600'} it, or remove it",
        )


def check_directory(path: str) -> None:
    """Refuse a cache directory that is missing, a link, not a directory, or not ours alone.

    Raises:
        CacheError: Naming the path, the problem and the fix.
    """
    try:
        info = os.lstat(path)
    except OSError as error:
        raise _refuse(path, f"it cannot be read ({error.strerror})", "check cache.path") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _refuse(
            path,
            "it is not a directory (a symbolic link is not followed)",
            "set cache.path to a directory",
        )
    check_owner_and_mode(path, info, "directory")


def open_private(path: str, flags: int) -> int:
    """Open a file without following links, checking it is a regular file of ours alone.

    The open cannot block: it is made with ``O_NONBLOCK`` (opening a named pipe for reading
    would otherwise wait for a writer, for ever), and the descriptor is made blocking again
    only once it is known to be a regular file.

    Raises:
        CacheError: It is a link, not a regular file, or not ours alone.
        OSError: It cannot be opened (FileNotFoundError when it does not exist).
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _refuse(path, "it is a symbolic link", "remove it") from None
        if error.errno == errno.ENXIO:  # a named pipe opened for writing, with no reader
            raise _refuse(path, "it is not a regular file", "remove it") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, "it is not a regular file", "remove it")
        check_owner_and_mode(path, info, "file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: str) -> bytes | None:
    """The content of a private file, or None when there is none.

    Raises:
        CacheError: The file is unsafe or unreadable.
    """
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CacheError(f"cannot read {path}: {error.strerror}", backend="file") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_private(path: str, data: bytes, *, durable: bool) -> None:
    """Replace ``path`` with ``data`` atomically, as a file of mode 0600.

    The data goes to a temporary file in the same directory (named ``.tmp-…`` with
    ``path``'s extension, so a directory listing can skip it), which is then renamed over
    ``path``: a reader sees the old content or the new, never half of it.

    Args:
        path: The file to replace.
        data: Its new content.
        durable: Also fsync the file before the rename and the directory after it, so the
            new content survives a crash (a cache record); without it the write is atomic
            but may be lost to a power cut (a snapshot the next call can rebuild).

    Raises:
        OSError: The temporary file cannot be created, written or renamed (it is removed).
    """
    import tempfile

    directory, name = os.path.split(path)
    directory = directory or "."
    # mkstemp creates the file 0600 with O_EXCL: nobody can plant it or read it first.
    fd, temporary = tempfile.mkstemp(
        prefix=".tmp-", suffix=os.path.splitext(name)[1], dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if durable:
        # The rename is durable only once the directory entry is on disk too.
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def private_key(directory: str, name: str, size: int) -> bytes:
    """The random key kept in file ``name`` of ``directory``, created at its first use.

    The directory is created (0700) when missing and must be ours alone; the key is
    written whole (0600, fsynced) and linked into place, so a reader never sees half a key
    and two processes creating it at once agree on the first one linked.

    Raises:
        CacheError: The directory or the key file is not ours alone, or the key is not
            ``size`` bytes long.
        OSError: The directory or the key cannot be created.
    """
    path = os.path.join(directory, name)
    memo = (directory, name, size)
    known = _keys_read.get(memo)
    if known is not None and known[1] == _key_state(directory, path):
        return known[0]  # the same directory and file as checked and read before
    key = _read_key(directory, path, size)
    state = _key_state(directory, path)
    if state is not None:
        _keys_read[memo] = (key, state)
    return key


# Keys read in this process, with what their directory and file were then: a profile, the
# validation record, the plugin index and the parsed configs each ask for the same key,
# and 10,000 profiles ask 10,000 times. Two lstat calls tell the same files apart from a
# replaced, re-moded or re-owned one, which is then checked and read again in full.
_keys_read: dict[tuple[str, str, int], tuple[bytes, tuple[int, ...]]] = {}


def _key_state(directory: str, path: str) -> tuple[int, ...] | None:
    try:
        folder, key = os.lstat(directory), os.lstat(path)
    except OSError:
        return None
    return (
        folder.st_dev,
        folder.st_ino,
        folder.st_mode,
        folder.st_uid,
        key.st_dev,
        key.st_ino,
        key.st_mode,
        key.st_uid,
        key.st_size,
        key.st_mtime_ns,
        key.st_ctime_ns,
    )


def _read_key(directory: str, path: str, size: int) -> bytes:
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    check_directory(directory)
    key = read_private(path)
    if key is None:
        _create_key(directory, path, size)
        key = read_private(path)
    if key is None or len(key) != size:
        raise CacheError(f"refusing the key at {path}: malformed", backend="file")
    return key


def _create_key(directory: str, path: str, size: int) -> None:
    """Write a new random key at ``path`` unless another process wrote one first."""
    import secrets
    import tempfile

    # link() fails rather than replace a key another process created in the meantime.
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".key", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(size))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
