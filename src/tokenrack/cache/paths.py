"""Where the file cache lives, and what a cache key's files are called (stdlib only)."""

from __future__ import annotations

import hashlib
import os

__all__ = ["RECORD_SUFFIX", "default_cache_directory", "file_stem", "record_path"]

RECORD_SUFFIX = ".token"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def default_cache_directory(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/tokenrack``, or ``~/.cache/tokenrack`` when that is unset."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tokenrack")


def file_stem(key: str) -> str:
    """The file name (without suffix) for cache key ``key``: a digest, never the key's parts."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def record_path(directory: str, key: str, *, suffix: str = RECORD_SUFFIX) -> str:
    """The record file of cache key ``key`` in ``directory`` (another of its files by suffix)."""
    return os.path.join(directory, file_stem(key) + suffix)
