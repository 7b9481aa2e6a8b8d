"""Key and certificate material: PEM or JWK text given inline, by reference, or as a path.

A profile may write ``private_key: /run/secrets/key.pem`` (a path), ``private_key: {file:
…}`` or ``{env: …}`` (a reference whose content is the PEM or JWK), or the PEM itself. TLS
libraries want files, so material that arrived as text is written to a private temporary
directory (0700, files 0600) and removed when the registry closes or the process exits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from typing import Any

from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.safe_file import write_private

__all__ = ["MaterialFiles", "is_inline_material", "read_material"]


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
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ValueError(
            f"{what} is neither PEM, a JWK, nor a readable file{_shown_path(value.strip())}"
            f" ({reason})"
        ) from None


class MaterialFiles:
    """Private files for material that the TLS library must read from disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directory: str | None = None
        self._finalizer: weakref.finalize[Any, MaterialFiles] | None = None

    def path_for(self, name: str, configured: Any, resolved: Secret) -> str:
        """A file holding the material for option ``name``.

        Args:
            name: The option (``client_cert``, ``client_key``).
            configured: What the config holds for it (a path reference is used as is).
            resolved: Its resolved value: PEM text, or a path.
        """
        if isinstance(configured, SecretRef) and configured.source == "file":
            return os.path.expanduser(str(configured.argument))
        text = resolved.reveal()
        if not is_inline_material(text):
            return os.path.expanduser(text.strip())
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self._lock:
            if self._directory is None:
                self._directory = tempfile.mkdtemp(prefix="tokenrack-tls-")
                os.chmod(self._directory, 0o700)
                self._finalizer = weakref.finalize(
                    self, shutil.rmtree, self._directory, ignore_errors=True
                )
            path = os.path.join(self._directory, f"{name}-{digest}.pem")
            if not os.path.exists(path):
                # The directory is removed at exit: a crash costs nothing worth an fsync.
                write_private(path, text.encode(), durable=False)
            return path

    def close(self) -> None:
        """Delete every file written."""
        with self._lock:
            finalizer, self._finalizer, self._directory = self._finalizer, None, None
        if finalizer is not None:
            finalizer()
