"""Key and certificate material: PEM or JWK text given inline, by reference, or as a path.

A profile may write ``private_key: /run/secrets/key.pem`` (a path), ``private_key: {file:
…}`` or ``{env: …}`` (a reference whose content is the PEM or JWK), or the PEM itself. TLS
libraries want files, so material that arrived as text is given to them as one:

- on Linux, an anonymous in-memory file (``memfd_create``) named by ``/proc/self/fd/N``:
  nothing reaches the disk, and nothing outlives the process, however it ends;
- elsewhere, a private temporary directory (0700, files 0600) named after the process,
  removed when the registry closes or the process exits; a crashed process's directories
  (``tokenrack-tls-<pid>-…``, yours, with that pid gone) are removed by the next process
  that writes material.

A private key read from a file its group or others can read is used, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from typing import Any

from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.file_mode import warn_if_readable
from tokenrack.util.safe_file import write_private

__all__ = [
    "DIRECTORY_PREFIX",
    "MaterialFiles",
    "holds_private_key",
    "is_inline_material",
    "memory_files_available",
    "read_material",
    "sweep_stale_directories",
]

DIRECTORY_PREFIX = "tokenrack-tls-"
"""Prefix of the private directories used where in-memory files are not available."""


def memory_files_available() -> bool:
    """True where material can live in an in-memory file named by a path (Linux)."""
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, as someone else's process
    return True


def sweep_stale_directories(parent: str | None = None) -> list[str]:
    """Remove the material directories of processes that died without cleaning up.

    Only directories named ``tokenrack-tls-<pid>-…``, owned by you, whose pid no longer
    runs are removed.

    Returns:
        The directories removed.
    """
    parent = tempfile.gettempdir() if parent is None else parent
    removed: list[str] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for name in names:
        pid_text = name[len(DIRECTORY_PREFIX) :].split("-", 1)[0]
        if not name.startswith(DIRECTORY_PREFIX) or not pid_text.isdigit():
            continue
        path = os.path.join(parent, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if uid is not None and info.st_uid != uid:
            continue
        if int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _close_all(descriptors: list[int]) -> None:
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    descriptors.clear()


def is_inline_material(text: str) -> bool:
    """True when ``text`` is PEM or JWK content rather than a path."""
    stripped = text.strip()
    return stripped.startswith("{") or "-----BEGIN" in stripped


def _shown_path(text: str) -> str:
    # Quote a path only when it looks like one: a mistaken secret must never be echoed.
    looks_like_path = len(text) < 256 and not any(c.isspace() for c in text) and "/" in text
    return f" {text}" if looks_like_path else ""


def read_material(value: str, *, what: str) -> str:
    """The PEM or JWK text in ``value``, or read from the file ``value`` names.

    Raises:
        ValueError: The value is neither material nor a readable file.
    """
    if is_inline_material(value):
        return value
    path = os.path.expanduser(value.strip())
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ValueError(
            f"{what} is neither PEM, a JWK, nor a readable file{_shown_path(value.strip())}"
            f" ({reason})"
        ) from None
    if holds_private_key(text):
        warn_if_readable(path, what="private key")
    return text


def holds_private_key(text: str) -> bool:
    """True when PEM or JWK ``text`` holds a private key (not only a certificate)."""
    stripped = text.strip()
    return "PRIVATE KEY-----" in stripped or (stripped.startswith("{") and '"d"' in stripped)


class MaterialFiles:
    """Files for material that the TLS library must read by path: in memory where possible.

    Args:
        in_memory: Use in-memory files (default: wherever :func:`memory_files_available`).
    """

    def __init__(self, *, in_memory: bool | None = None) -> None:
        self._lock = threading.Lock()
        self._in_memory = memory_files_available() if in_memory is None else in_memory
        self._directory: str | None = None
        self._paths: dict[str, str] = {}
        self._descriptors: list[int] = []
        self._directories: list[str] = []
        self._finalizer: weakref.finalize[Any, MaterialFiles] | None = None

    def path_for(self, name: str, configured: Any, resolved: Secret) -> str:
        """A path the TLS library can read the material for option ``name`` from.

        Args:
            name: The option (``client_cert``, ``client_key``).
            configured: What the config holds for it (a path reference is used as is).
            resolved: Its resolved value: PEM text, or a path.
        """
        if isinstance(configured, SecretRef) and configured.source == "file":
            return os.path.expanduser(str(configured.argument))
        text = resolved.reveal()
        if not is_inline_material(text):
            path = os.path.expanduser(text.strip())
            if name.endswith("key"):
                warn_if_readable(path, what="private key")
            return path
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        label = f"{name}-{digest}"
        with self._lock:
            known = self._paths.get(label)
            if known is not None:
                return known
            if self._finalizer is None:
                self._finalizer = weakref.finalize(
                    self, _forget, self._descriptors, self._directories
                )
            path = self._paths[label] = (
                self._memory_file(label, text.encode())
                if self._in_memory
                else self._disk_file(label, text.encode())
            )
            return path

    def _memory_file(self, label: str, data: bytes) -> str:
        descriptor = os.memfd_create(f"tokenrack-{label}", os.MFD_CLOEXEC)
        self._descriptors.append(descriptor)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        return f"/proc/self/fd/{descriptor}"

    def _disk_file(self, label: str, data: bytes) -> str:
        if self._directory is None:
            sweep_stale_directories()
            self._directory = tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-")
            os.chmod(self._directory, 0o700)
            self._directories.append(self._directory)
        path = os.path.join(self._directory, f"{label}.pem")
        # The directory is removed at exit or by the next process: no fsync is worth it.
        write_private(path, data, durable=False)
        return path

    def close(self) -> None:
        """Close every in-memory file and delete every file written."""
        with self._lock:
            finalizer, self._finalizer = self._finalizer, None
            self._directory = None
            self._paths = {}
        if finalizer is not None:
            finalizer()


def _forget(descriptors: list[int], directories: list[str]) -> None:
    _close_all(descriptors)
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
    directories.clear()
