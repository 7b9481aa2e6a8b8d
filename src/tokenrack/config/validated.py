"""The record of values already validated, so that an unchanged config skips jsonschema.

Importing jsonschema and building a validator is most of a cold start's own cost (issue 15),
and a config is validated again by every short-lived process that loads it. A successful
validation is remembered, per user, as a digest of everything its outcome depends on:

- the validated value itself, *after* ``${VAR}`` interpolation (a changed file, a changed
  environment variable, a changed default all change it);
- the schema it was checked against, which is composed from the installed plugins' schemas
  (a plugin added, removed or upgraded with another schema changes it);
- tokenrack's version and the installed jsonschema (its dist-info, which names its
  version, its location and its files' modification time);
- the JSON path the value was validated at.

Only successes are recorded, so an invalid value is validated (and its problems reported)
on every load. Anything that differs, or a value that has no exact JSON form (a non-string
key, a tuple, a date), means a full validation.

The digests are HMAC-SHA256 (128 bits kept) under a key derived from the per-user random
key the file cache keeps in the user's cache directory (``fingerprint.key``, 0600), so the
record says nothing about the values (client secrets included) to anyone without that key,
and nobody without it can forge an entry. The record itself is ``validated.json`` in the
same directory: read only if it is a regular file of ours, not group- or world-writable, and
not a link; anything else (another user's file, garbage, a directory that is not ours alone)
is ignored and a full validation runs. Set ``TOKENRACK_VALIDATION_RECORD=off`` to validate
fully every time and never read or write the record.

New digests are written once, when the process exits, so a load that validates many
profiles writes the record once; a process killed before that validates again next time.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from tokenrack.cache.paths import default_cache_directory
from tokenrack.errors import TokenrackError
from tokenrack.util.log import get_logger
from tokenrack.util.safe_file import private_key, read_private, write_private

__all__ = ["RECORD_FILE", "SWITCH", "ValidationRecord", "digest_of", "record"]

RECORD_FILE = "validated.json"
"""The record's file name in the user's cache directory."""

SWITCH = "TOKENRACK_VALIDATION_RECORD"
"""The environment variable that turns the record off (``off``)."""

_KEY_FILE = "fingerprint.key"  # the file cache's per-user key (tokenrack.core.credential)
_KEY_BYTES = 32
_INFO = b"tokenrack/validation-record/v1"
_LIMIT = 20_000  # digests kept: the newest; about 0.7 MB at most
_DIGEST_CHARS = 32

_log = get_logger("config")


class _InexactError(Exception):
    """A value without one exact JSON form: it is validated, never recorded."""


def _exact(value: Any, *, strict: bool) -> Any:
    """``value`` as plain JSON data, refusing anything JSON would blur.

    ``strict`` (the validated value): only dict, list, str, int, float, bool and None, as
    jsonschema sees them; a schema may also use other mappings and tuples.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict) or (not strict and isinstance(value, Mapping)):
        if not all(isinstance(key, str) for key in value):
            raise _InexactError
        return {key: _exact(item, strict=strict) for key, item in value.items()}
    if isinstance(value, list) or (not strict and isinstance(value, tuple)):
        return [_exact(item, strict=strict) for item in value]
    raise _InexactError


def _canonical(value: Any) -> str:
    """Canonical JSON text: keys sorted, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _instance_text(value: Any) -> str:
    """The canonical JSON text of a validated value.

    Asked of every profile and of the whole document, so JSON's own C code does the work:
    a value equal to what its text reads back as has one exact JSON form. Anything else (a
    non-string key, a tuple, a NaN reads back different) is settled by :func:`_exact`.

    Raises:
        _InexactError: ``value`` has no exact JSON form.
    """
    try:
        text = _canonical(value)
        again = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        pass
    else:
        if again == value and type(again) is type(value):
            return text
    return _canonical(_exact(value, strict=True))


_versions_found: tuple[str, str] | None = None


def _versions() -> tuple[str, str]:
    """The version of tokenrack and which jsonschema is installed (looked up once)."""
    global _versions_found
    if _versions_found is None:
        from tokenrack import __version__

        _versions_found = (__version__, _installed_jsonschema())
    return _versions_found


def _installed_jsonschema() -> str:
    """The installed jsonschema: its dist-info's name (with the version) and file's mtime.

    Read from the file system without importing it: ``importlib.metadata.version`` would
    search every ``sys.path`` entry and parse the metadata, about ten times the cost.
    """
    import importlib.util

    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:  # pragma: no cover - a dependency
        return "missing"
    site = os.path.dirname(os.path.dirname(spec.origin))
    try:
        infos = sorted(
            name
            for name in os.listdir(site)
            if name.startswith("jsonschema-") and name.endswith((".dist-info", ".egg-info"))
        )
        changed = os.stat(spec.origin).st_mtime_ns
    except OSError:  # pragma: no cover - it was just found
        return spec.origin
    return f"{spec.origin}|{','.join(infos)}|{changed}"


_SCHEMA_TEXTS = 64  # schemas whose text is kept: a load composes one per provider and methods
_schema_texts: dict[int, tuple[Mapping[str, Any], str]] = {}
_schema_texts_lock = threading.Lock()


def _schema_digest(schema: Mapping[str, Any]) -> str:
    """SHA-256 of the schema's canonical JSON text, computed once per schema object.

    10,000 profiles of one provider are validated against one composed schema object;
    writing it out (and then quoting that text in each digest's document) for each was
    most of what building them cost. The digest is kept with the schema itself (so its
    ``id`` cannot be reused while kept): a schema is composed and then only read, never
    changed in place once validated against.
    """
    with _schema_texts_lock:
        found = _schema_texts.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    digest = hashlib.sha256(_schema_text(schema).encode()).hexdigest()
    with _schema_texts_lock:
        if len(_schema_texts) >= _SCHEMA_TEXTS:
            del _schema_texts[next(iter(_schema_texts))]  # the oldest
        _schema_texts[id(schema)] = (schema, digest)
    return digest


def _schema_text(schema: Mapping[str, Any]) -> str:
    """The schema as canonical JSON text (the C encoder first: it is most of the cost)."""
    try:
        return json.dumps(schema, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        # Another Mapping than dict somewhere: said as plain JSON data, or refused.
        exact = _exact(schema, strict=False)
        return json.dumps(exact, sort_keys=True, separators=(",", ":"), allow_nan=True)


def digest_of(key: bytes, instance: Any, schema: Mapping[str, Any], base: str) -> str | None:
    """The record's digest of validating ``instance`` against ``schema`` at ``base``.

    None when ``instance`` or ``schema`` has no exact JSON form (it is then always
    validated in full).
    """
    try:
        # The canonical text of {"base", "instance", "schema", "versions"}, the instance
        # written once.
        text = (
            f'{{"base":{_canonical(base)},"instance":{_instance_text(instance)},'
            f'"schema":{_canonical(_schema_digest(schema))},"versions":{_canonical(_versions())}}}'
        )
    except (_InexactError, TypeError, ValueError):
        return None
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]


def _parse(data: bytes | None) -> list[str]:
    """The digests of a record file's content; none for anything malformed."""
    if not data:
        return []
    try:
        found = json.loads(data)
    except ValueError:
        return []
    digests = found.get("digests") if isinstance(found, dict) else None
    if not isinstance(digests, list):
        return []
    return [
        d
        for d in digests
        if isinstance(d, str)
        and len(d) == _DIGEST_CHARS
        and all(c in "0123456789abcdef" for c in d)
    ]


class ValidationRecord:
    """The validations that succeeded before, read from and kept in ``directory``.

    Args:
        directory: The user's cache directory (it holds the per-user key).
    """

    def __init__(self, directory: str) -> None:
        self._lock = threading.Lock()
        self._directory = os.path.abspath(directory)
        self._path = os.path.join(self._directory, RECORD_FILE)
        self._key: bytes | None = None
        self._known: dict[str, None] = {}
        self._new: dict[str, None] = {}
        self._usable = True
        try:
            user_key = private_key(self._directory, _KEY_FILE, _KEY_BYTES)
        except (TokenrackError, OSError) as error:
            # Not ours alone, unreadable, or not creatable: validate in full, keep nothing.
            _log.debug("validation record unused: %s", error)
            self._usable = False
            return
        self._key = hmac.new(user_key, _INFO, hashlib.sha256).digest()
        try:
            self._known = dict.fromkeys(_parse(read_private(self._path)))
        except (TokenrackError, OSError) as error:
            # Another user's file, a link, group-writable: its content is not trusted (the
            # next write replaces it).
            _log.debug("validation record ignored: %s", error)

    def digest(self, instance: Any, schema: Mapping[str, Any], base: str) -> str | None:
        """The digest of this validation, or None when it cannot be recorded."""
        if self._key is None:
            return None
        return digest_of(self._key, instance, schema, base)

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            return digest in self._known or digest in self._new

    def add(self, digest: str) -> None:
        """Remember a successful validation (written by :meth:`flush`, at exit)."""
        with self._lock:
            if not self._usable or digest in self._known or digest in self._new:
                return
            first = not self._new
            self._new[digest] = None
        if first:
            atexit.register(self.flush)

    def flush(self) -> None:
        """Write the new digests, merged with what the file holds now (best effort)."""
        with self._lock:
            if not self._new:
                return
            new, self._new = self._new, {}
            try:
                merged = dict.fromkeys(_parse(read_private(self._path)))
            except (TokenrackError, OSError):
                merged = {}
            merged.update(new)
            self._known.update(new)
            kept = list(merged)[-_LIMIT:]
            data = json.dumps({"version": 1, "digests": kept}).encode()
            try:
                write_private(self._path, data, durable=False)
            except OSError as error:
                _log.debug("validation record not written: %s", error)


_records: dict[str, ValidationRecord] = {}
_records_lock = threading.Lock()


def record() -> ValidationRecord | None:
    """This process's record, in the default cache directory; None when it is turned off."""
    if os.environ.get(SWITCH, "").lower() == "off":
        return None
    directory = default_cache_directory()
    with _records_lock:
        found = _records.get(directory)
        if found is None:
            found = _records[directory] = ValidationRecord(directory)
        return found
