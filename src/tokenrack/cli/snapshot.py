"""What the CLI learned about a config, kept beside the file cache for the warm path.

A cold ``tokenrack token`` loads the config fully (YAML, JSON Schema, plugins), then
records, per profile, what a later call needs to serve a cached token without doing that
again: the cache key (credential fingerprint included) and where the file cache keeps it.
The record is keyed by a digest of the config file's path and bytes and tokenrack's
version, and holds verifiers of the environment variables the config's settings read and
of the profile's ``{env:}`` and ``{file:}`` secrets, so that any change to the file, to
tokenrack, to those variables or to those secrets sends the next call down the full path
again. A verifier is an HMAC under a random key of the snapshot's own (``salt``), never a
plain hash: a low-entropy value is no offline guess away. It never holds a secret or a
token. Standard library only: the warm path reads it on every call.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os

__all__ = [
    "FORMAT",
    "RecordingEnviron",
    "config_digest",
    "env_digests",
    "load",
    "save",
    "verifier",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

FORMAT = 2


class RecordingEnviron(dict[str, str]):
    """A copy of the environment that remembers which variables were read (``${VAR}``)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Read (and remember) one variable."""
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


def config_digest(path: str, data: bytes) -> str:
    """Identifies a config file's exact contents at a path, for this tokenrack version."""
    from tokenrack import __version__

    digest = hashlib.sha256()
    for part in (__version__.encode(), os.path.realpath(path).encode(), data):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:40]


def verifier(salt: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the snapshot's key ``salt`` (hex, 128 bits)."""
    mac = hmac.new(bytes.fromhex(salt), value.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def env_digests(
    names: Iterable[str], environ: Mapping[str, str], salt: str
) -> dict[str, str | None]:
    """A verifier of each variable's value (None when unset); never the values themselves."""
    return {
        name: verifier(salt, environ[name]) if name in environ else None for name in sorted(names)
    }


def directory() -> str:
    """Where snapshots live: ``cli/`` in the file cache's default directory."""
    from tokenrack.cache.paths import default_cache_directory

    return os.path.join(default_cache_directory(), "cli")


def load(digest: str) -> dict[str, Any] | None:
    """The snapshot for ``digest``, or None when absent, unreadable or untrustworthy.

    The directory and the file must be ours alone (as the file cache's are); anything
    else is ignored, never trusted.
    """
    from tokenrack.errors import CacheError
    from tokenrack.util.safe_file import check_directory, read_private

    folder = directory()
    try:
        check_directory(folder)
        data = read_private(os.path.join(folder, f"{digest}.json"))
    except CacheError:
        return None
    if data is None:
        return None
    try:
        document = json.loads(data)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    if not isinstance(document.get("salt"), str) or not isinstance(document.get("profiles"), dict):
        return None
    return document


def save(
    digest: str,
    *,
    profile: str,
    build: Callable[[str], tuple[Mapping[str, Any], Mapping[str, Any]]],
    default: bool = False,
) -> None:
    """Add ``profile``'s entry to the snapshot for ``digest`` (atomic, 0600, best effort).

    Args:
        digest: The config's :func:`config_digest`.
        profile: The profile's name.
        build: Given the snapshot's key (``salt``, hex), the profile's entry and the
            verifiers of the environment variables the config read.
        default: ``profile`` is the config's ``default_profile``, served to a call that
            names none.
    """
    from tokenrack.errors import CacheError
    from tokenrack.util.safe_file import check_directory, write_private

    folder = directory()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        check_directory(folder)
    except (OSError, CacheError):
        return
    import secrets

    document = load(digest) or {
        "format": FORMAT,
        "salt": secrets.token_bytes(32).hex(),
        "profiles": {},
        "env": {},
    }
    entry, env = build(document["salt"])
    document["profiles"][profile] = dict(entry)
    if default:
        document["default_profile"] = profile
    document["env"] = {**document.get("env", {}), **env}
    # Not durable: a snapshot lost to a crash is rebuilt by the next full-path call.
    with contextlib.suppress(OSError):
        write_private(
            os.path.join(folder, f"{digest}.json"), json.dumps(document).encode(), durable=False
        )
