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

A private key read from a file its group or others can read or write is used, with a
warning. An encrypted client-certificate key stays encrypted in its file: the TLS library
decrypts it in memory with ``client_key_passphrase``, so no decrypted copy is ever written.

Errors about material name the file read (or the secret reference it came from) and never
quote the material; the core adds the config file, the profile and the option.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import ssl
import tempfile
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from tokenrack.oauth.transport import ClientCertificate
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.util.file_mode import warn_if_exposed
from tokenrack.util.safe_file import write_private

__all__ = [
    "DIRECTORY_PREFIX",
    "PATH_OPTIONS",
    "KeyMaterialError",
    "MaterialFiles",
    "OptionMaterialError",
    "check_client_certificate",
    "holds_private_key",
    "is_encrypted_key",
    "is_inline_material",
    "material_origin",
    "memory_files_available",
    "read_material",
    "sweep_stale_directories",
]


class KeyMaterialError(ValueError):
    """Key or certificate material is unusable; the message never quotes the material."""


class OptionMaterialError(KeyMaterialError):
    """Material is unusable, and it is the fault of one option.

    Attributes:
        option: The option at fault (``client_cert``, ``client_key``, …).
    """

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


PATH_OPTIONS = frozenset({"private_key", "certificate", "client_cert", "client_key"})
"""Options that hold material or the path of a file holding it (resolved against the config's
directory when relative)."""

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


def read_material(value: str, *, what: str, used_by: str = "") -> str:
    """The PEM or JWK text in ``value``, or read from the file ``value`` names.

    Args:
        value: The material, or a path to it.
        what: The option, for messages (``private_key``).
        used_by: The config key, for the warning about a file others can open.

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
        warn_if_exposed(path, what="private key", used_by=used_by)
    return text


def material_origin(configured: Any, resolved: Secret | None) -> str:
    """Where an option's material was read from, for messages: a file, or a reference.

    ``key file /run/keys/billing.pem`` for a path or a ``{file: …}`` reference,
    ``from env 'BILLING_KEY'`` for material given by another source, ``""`` for inline
    material. Never the material.
    """
    if isinstance(configured, SecretRef):
        if configured.source == "file":
            return f"key file {os.path.expanduser(str(configured.argument))}"
        text = resolved.reveal() if resolved is not None else ""
        if text and not is_inline_material(text):
            return f"key file {_shown_path(text.strip()).strip()} (from {configured.describe()})"
        return f"from {configured.describe()}"
    text = resolved.reveal() if resolved is not None else ""
    if text and not is_inline_material(text):
        shown = _shown_path(text.strip()).strip()
        return f"key file {shown}" if shown else ""
    return ""


def is_encrypted_key(text: str) -> bool:
    """True when PEM ``text`` holds an encrypted private key (PKCS#8 or legacy OpenSSL)."""
    return "BEGIN ENCRYPTED PRIVATE KEY" in text or "Proc-Type: 4,ENCRYPTED" in text


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
        self._checked: set[str] = set()
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
            path = os.path.expanduser(str(configured.argument))
            if os.path.isabs(path):
                return path
            # A relative one is the config file's, which only its resolved content knows:
            # that content is given to the TLS library like material from any other source.
        text = resolved.reveal()
        if not is_inline_material(text):
            path = os.path.expanduser(text.strip())
            if name.endswith("key"):
                warn_if_exposed(path, what="private key")
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

    def client_certificate(
        self,
        configured: Mapping[str, Any],
        secrets: Mapping[str, Secret],
    ) -> ClientCertificate:
        """The files of a mutual-TLS client certificate, checked once with its passphrase.

        Args:
            configured: The profile's secret options as loaded (references unresolved).
            secrets: Their resolved values (``client_cert``, ``client_key``, maybe
                ``client_key_passphrase``).

        Raises:
            OptionMaterialError: The certificate or key cannot be used; the message names
                the file (or reference) and the option, never the material.
        """
        cert = ClientCertificate(
            cert_path=self.path_for(
                "client_cert", configured.get("client_cert"), secrets["client_cert"]
            ),
            key_path=self.path_for(
                "client_key", configured.get("client_key"), secrets["client_key"]
            ),
            key_password=secrets.get("client_key_passphrase"),
        )
        password = cert.key_password.reveal() if cert.key_password else ""
        identity = hashlib.sha256(
            "\0".join([cert.cert_path, cert.key_path, password]).encode()
        ).hexdigest()
        with self._lock:
            if identity in self._checked:
                return cert
        try:
            check_client_certificate(cert.cert_path, cert.key_path, password)
        except OptionMaterialError as error:
            # Reported under the key a passphrase opens, and never described itself (its
            # text might pass for a path).
            named = "client_key" if error.option == "client_key_passphrase" else error.option
            origin = material_origin(configured.get(named), secrets.get(named))
            raise OptionMaterialError(
                f"{origin}: {error}" if origin else str(error), named
            ) from None
        with self._lock:
            self._checked.add(identity)
        return cert

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


def _read_text(path: str, option: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise OptionMaterialError(f"cannot read the file ({error.strerror})", option) from None
    except UnicodeDecodeError:
        raise OptionMaterialError("the file is not PEM text", option) from None


def check_client_certificate(cert_path: str, key_path: str, passphrase: str = "") -> None:
    """Load a client certificate and its key as the TLS library will, to fail early and clearly.

    Never prompts for a passphrase (OpenSSL would, on a terminal, when none is given).

    Raises:
        OptionMaterialError: Unreadable files, no PEM certificate or key, an encrypted key
            without a passphrase or with a wrong one, a key that does not match the
            certificate; its ``option`` is the one at fault (``client_cert``,
            ``client_key`` or ``client_key_passphrase``).
    """
    cert_text = _read_text(cert_path, "client_cert")
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise OptionMaterialError("expected a PEM certificate", "client_cert")
    key_text = _read_text(key_path, "client_key")
    if not holds_private_key(key_text) or key_text.lstrip().startswith("{"):
        found = "a certificate" if "BEGIN CERTIFICATE" in key_text else "no PEM private key"
        raise OptionMaterialError(f"expected a PEM private key, found {found}", "client_key")
    encrypted = is_encrypted_key(key_text)
    del key_text
    if encrypted and not passphrase:
        raise OptionMaterialError(
            "the key is encrypted: set client_key_passphrase (a secret, e.g. {env: …})",
            "client_key",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    secret = passphrase.encode()
    try:
        context.load_cert_chain(cert_path, key_path, password=lambda: secret)
    except ssl.SSLError as error:
        reason = str(getattr(error, "reason", "") or "")
        if "MISMATCH" in reason.upper():
            raise OptionMaterialError(
                "the key does not match the certificate", "client_key"
            ) from None
        if encrypted:
            raise OptionMaterialError(
                "cannot decrypt the key: client_key_passphrase is wrong", "client_key_passphrase"
            ) from None
        raise OptionMaterialError(
            f"the certificate or key does not load ({reason or 'invalid PEM'})", "client_key"
        ) from None
    except OSError as error:  # pragma: no cover - read just above
        raise OptionMaterialError(
            f"cannot read the file ({error.strerror})", "client_key"
        ) from None
    if passphrase and not encrypted:
        raise OptionMaterialError(
            "client_key_passphrase is set but the key is not encrypted", "client_key_passphrase"
        )


def _forget(descriptors: list[int], directories: list[str]) -> None:
    _close_all(descriptors)
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
    directories.clear()
