"""The installed plugins' entry points, remembered per user, so a start needs no scan.

Listing entry points with :mod:`importlib.metadata` walks every installed distribution and
parses its metadata (about 5 to 10 ms, on every start of a short-lived process: issue 15). What
a scan finds only changes when something is installed, removed or upgraded, so the last
scan is kept in the user's cache directory (``plugins.json``) with a digest of what it
depends on:

- every ``sys.path`` entry, its modification time, and the name and ``entry_points.txt``
  modification time of each ``.dist-info`` and ``.egg-info`` in it (pip adds and removes
  those directories; an in-place edit of ``entry_points.txt`` changes its time);
- the interpreter and tokenrack's version.

Anything different, and the index is ignored and a new scan replaces it. The index says
which module a plugin name imports, so it is untrusted input guarded like the validation
record: it is read only if it is a regular file of ours (0600, not a link) in a directory
of ours alone, and it carries an HMAC-SHA256 under a key derived from the per-user key the
file cache keeps there (``fingerprint.key``), so nobody without that key can point a plugin
name at another module. Each entry is checked for shape (an entry-point value is a dotted
module path and attribute). Set ``TOKENRACK_PLUGIN_INDEX=off`` to scan on every start and
never read or write the index.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenrack.cache.paths import default_cache_directory
from tokenrack.errors import TokenrackError
from tokenrack.util.log import get_logger
from tokenrack.util.safe_file import private_key, read_private, write_private

__all__ = [
    "INDEX_FILE",
    "SWITCH",
    "Entry",
    "IndexState",
    "current_state",
    "read_index",
    "write_index",
]

INDEX_FILE = "plugins.json"
"""The index's file name in the user's cache directory."""

SWITCH = "TOKENRACK_PLUGIN_INDEX"
"""The environment variable that turns the index off (``off``)."""

Entry = tuple[str, str, str | None, str | None]
"""One entry point: its name, its value (``module:attr``), its distribution and version."""

_KEY_FILE = "fingerprint.key"  # the file cache's per-user key (tokenrack.core.credential)
_KEY_BYTES = 32
_INFO = b"tokenrack/plugin-index/v1"
_VALUE = re.compile(r"^[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?(?:\s*\[[\w.,\s-]*\])?$")
_MAX_BYTES = 1 << 20
_SCANS_KEPT = 8

_log = get_logger("core")


def _enabled() -> bool:
    return os.environ.get(SWITCH, "").lower() != "off"


def _installed_state() -> list[Any]:
    """What a scan's result depends on: ``sys.path`` and the distributions in it."""
    from tokenrack import __version__

    state: list[Any] = [sys.version, sys.executable, __version__]
    for entry in sys.path:
        directory = entry or "."
        try:
            state.append([entry, os.stat(directory).st_mtime_ns])
            names = sorted(os.listdir(directory))
        except (OSError, ValueError, TypeError):
            state.append([str(entry), 0])
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    changed = os.stat(os.path.join(directory, name, "entry_points.txt"))
                    state.append([name, changed.st_mtime_ns])
                except OSError:
                    state.append([name, 0])
    return state


def _key(directory: str) -> bytes | None:
    try:
        user_key = private_key(directory, _KEY_FILE, _KEY_BYTES)
    except (TokenrackError, OSError) as error:
        _log.debug("plugin index unused: %s", error)
        return None
    return hmac.new(user_key, _INFO, hashlib.sha256).digest()


def _mac(key: bytes, state: str, groups: Any) -> str:
    text = json.dumps({"state": state, "groups": groups}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _state_digest(key: bytes) -> str:
    text = json.dumps(_installed_state(), separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _entries(found: Any, groups: Sequence[str]) -> dict[str, list[Entry]] | None:
    """The index's groups, each entry checked for shape; None if anything is off."""
    if not isinstance(found, dict) or set(found) != set(groups):
        return None
    checked: dict[str, list[Entry]] = {}
    for group, entries in found.items():
        if not isinstance(entries, list):
            return None
        rows: list[Entry] = []
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 4):
                return None
            name, value, dist, version = entry
            if not (isinstance(name, str) and name and isinstance(value, str)):
                return None
            if not _VALUE.match(value):
                return None
            if not all(part is None or isinstance(part, str) for part in (dist, version)):
                return None
            rows.append((name, value, dist, version))
        checked[group] = rows
    return checked


@dataclass(frozen=True, slots=True)
class IndexState:
    """Where the index lives, its key, and the digest of what is installed now."""

    directory: str
    key: bytes = field(repr=False)
    digest: str


def current_state() -> IndexState | None:
    """What is installed now, taken before a scan (None: the index is off or unusable).

    Taken before scanning, so that a plugin installed during the scan makes the index
    written after it stale rather than wrong.
    """
    if not _enabled():
        return None
    directory = default_cache_directory()
    key = _key(directory)
    if key is None:
        return None
    return IndexState(directory, key, _state_digest(key))


def _scans(directory: str, key: bytes) -> list[dict[str, Any]]:
    """The index's scans whose MAC is right (each: state, groups, mac); none if unusable."""
    try:
        data = read_private(os.path.join(directory, INDEX_FILE))
    except (TokenrackError, OSError) as error:
        _log.debug("plugin index ignored: %s", error)
        return []
    if not data or len(data) > _MAX_BYTES:
        return []
    try:
        found = json.loads(data)
    except ValueError:
        return []
    if not isinstance(found, dict) or found.get("version") != 1:
        return []
    scans = found.get("scans")
    if not isinstance(scans, list):
        return []
    kept = []
    for scan in scans[:_SCANS_KEPT]:
        if not isinstance(scan, dict):
            continue
        state, mac = scan.get("state"), scan.get("mac")
        if not (isinstance(state, str) and isinstance(mac, str)):
            continue
        if hmac.compare_digest(mac, _mac(key, state, scan.get("groups"))):
            kept.append(scan)
        else:
            _log.debug("plugin index entry ignored: its digest does not match")
    return kept


def read_index(state: IndexState, groups: Sequence[str]) -> dict[str, list[Entry]] | None:
    """The entry points of ``groups`` as a scan with the same installed state found them.

    None (scan again) when the index is missing, not ours, malformed, forged or stale.
    """
    for scan in _scans(state.directory, state.key):
        if hmac.compare_digest(scan["state"], state.digest):
            return _entries(scan.get("groups"), groups)
    return None  # nothing scanned with what is installed now


def write_index(state: IndexState, found: Mapping[str, Sequence[Entry]]) -> None:
    """Remember a scan's result, found after ``state`` was taken, for the next process.

    A few scans are kept, newest first, so that processes with different ``sys.path``
    (a script's directory, ``python -c``) do not replace each other's.
    """
    directory, key = state.directory, state.key
    groups = {group: [list(entry) for entry in entries] for group, entries in found.items()}
    digest = state.digest
    scans = [{"state": digest, "groups": groups, "mac": _mac(key, digest, groups)}]
    scans += [scan for scan in _scans(directory, key) if scan["state"] != digest]
    try:
        data = json.dumps({"version": 1, "scans": scans[:_SCANS_KEPT]}).encode()
        write_private(os.path.join(directory, INDEX_FILE), data, durable=False)
    except OSError as error:
        _log.debug("plugin index not written: %s", error)
