"""Config files read before, remembered as parsed data, so an unchanged file skips YAML.

Importing PyYAML and parsing the file is a large share of a short-lived process's start
(issue 15), and of loading a 10,000-profile file. A file that parsed cleanly is remembered,
per user, as its data in JSON (the C decoder reads it many times faster than YAML is
parsed), under a digest of the file's exact bytes: any change to the file is a new digest,
so it is parsed again (and checked for duplicate keys and its size bounds again).

Only a file that holds no secret is remembered: no inline secret in any profile (or its
``cache``) as the exposure checks see them, and no ``agent`` section (it may hold the
agent's bearer). A file with an inline secret is always parsed from YAML, so no copy of a
secret is ever written by this module.

The entries live in ``parsed/`` in the user's cache directory, a directory of ours alone;
each is a private file (0600, not a link) named by an HMAC-SHA256 of the file's bytes
under a key derived from the per-user key the file cache keeps (``fingerprint.key``), and
carries an HMAC of its content under the same key: nobody without the key can plant or
alter an entry, and the name says nothing of the file. Anything unreadable, foreign,
forged or malformed is ignored and the file is parsed. At most :data:`KEPT` entries are
kept (the oldest are removed). Line and column for messages come from parsing the text
again when a message needs them. ``TOKENRACK_PARSED_CONFIG=off`` always parses.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokenrack.cache.paths import default_cache_directory
from tokenrack.config.marks import Marks
from tokenrack.errors import ConfigError, TokenrackError
from tokenrack.secret.value import Secret
from tokenrack.util.log import get_logger
from tokenrack.util.safe_file import check_directory, private_key, read_private, write_private

if TYPE_CHECKING:
    from tokenrack.config.assemble import Config

__all__ = [
    "KEPT",
    "MAX_CONFIG_BYTES",
    "SWITCH",
    "ConfigDocument",
    "ParsedMarks",
    "Remember",
    "read_config_text",
    "read_document",
    "too_large",
]

KEPT = 32
"""The most parsed files kept."""

SWITCH = "TOKENRACK_PARSED_CONFIG"
"""The environment variable that turns remembering off (``off``)."""

_KEY_FILE = "fingerprint.key"  # the file cache's per-user key (tokenrack.core.credential)
_KEY_BYTES = 32
_INFO = b"tokenrack/parsed-config/v1"
_DIRECTORY = "parsed"
MAX_CONFIG_BYTES = 8 * 1024 * 1024
"""The largest config file read (8 MiB: a 10,000-profile config is about 1.5-2 MiB)."""

_MAX_ENTRY_BYTES = 4 * MAX_CONFIG_BYTES

_log = get_logger("config")


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """A config file read: its data, and where each value was written.

    Attributes:
        source: The file name, for messages.
        data: What the safe loader built (or the same, remembered).
        marks: Line and column of each path's key, for messages (empty for no YAML).
    """

    source: str
    data: Any
    marks: Marks = field(default_factory=Marks, repr=False)


class ParsedMarks(Marks):
    """The marks of a remembered file: its text is parsed again at the first question."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__()
        self._text: str | None = text
        self._source = source

    def settle(self) -> Marks:
        """Nothing to let go of: the text holds no secret (see the module's docstring)."""
        return self

    def of(self, path: str) -> tuple[int, int] | None:
        """Line and column (from 1) of ``path``, from the text parsed now."""
        if self._text is not None:
            from tokenrack.config.document import parse_document

            text, self._text = self._text, None
            try:
                parsed = parse_document(text, source=self._source).marks
                parsed.of("")  # the map is made at the first question (and kept)
                self._marks = getattr(parsed, "_marks", None) or {}
            except ConfigError:
                self._marks = {}  # the file parsed before: changed since; no marks
        return super().of(path)


def _enabled() -> bool:
    return os.environ.get(SWITCH, "").lower() != "off"


def too_large() -> str:
    """What a config file larger than :data:`MAX_CONFIG_BYTES` is told."""
    return f"config file is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to parse it"


def read_config_text(name: str) -> tuple[bytes, str]:
    """A config file's bytes and text: at most :data:`MAX_CONFIG_BYTES`, UTF-8.

    Raises:
        ConfigError: The file cannot be read, is too large or is not UTF-8 text.
    """
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", file=name) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(too_large(), file=name)
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("config file is not UTF-8 text", file=name) from None


class _Place:
    """Where a file's entry is, and the key that signs it."""

    def __init__(self, directory: str, key: bytes, raw: bytes) -> None:
        self.directory = directory
        self.key = key
        self.name = hmac.new(key, raw, hashlib.sha256).hexdigest()[:40]
        self.path = os.path.join(directory, self.name + ".json")

    def mac(self, text: str) -> str:
        return hmac.new(self.key, f"{self.name}\n{text}".encode(), hashlib.sha256).hexdigest()


def _place(raw: bytes) -> _Place | None:
    if not _enabled():
        return None
    cache = default_cache_directory()
    try:
        user_key = private_key(cache, _KEY_FILE, _KEY_BYTES)
        directory = os.path.join(cache, _DIRECTORY)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        check_directory(directory)
    except (TokenrackError, OSError) as error:
        _log.debug("parsed configs not remembered: %s", error)
        return None
    return _Place(directory, hmac.new(user_key, _INFO, hashlib.sha256).digest(), raw)


def _remembered(place: _Place) -> Any:
    """The data remembered for this file; raises LookupError when there is none usable."""
    try:
        data = read_private(place.path)
    except (TokenrackError, OSError) as error:
        _log.debug("parsed config ignored: %s", error)
        raise LookupError from None
    if not data or len(data) > _MAX_ENTRY_BYTES:
        raise LookupError
    head, _, body = data.partition(b"\n")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise LookupError from None
    if not hmac.compare_digest(head, place.mac(text).encode()):
        _log.debug("parsed config ignored: its digest does not match")
        raise LookupError
    try:
        return json.loads(text)
    except ValueError:
        raise LookupError from None


Remember = Callable[["Config"], None]
"""Called with the config loaded from a document just parsed: keeps it if it may."""


def _forget(config: Config) -> None:
    """Nothing to keep: the document came from here, or remembering is off."""


def read_document(path: str | os.PathLike[str]) -> tuple[ConfigDocument, Remember]:
    """Read a config file: its remembered data when the file is unchanged, else parse it.

    Returns:
        The document, and what to call with the config loaded from it (so a file parsed
        now is remembered once it has loaded, and only if it holds no secret).

    Raises:
        ConfigError: As :func:`tokenrack.config.document.read_config_document`.
    """
    name = os.fspath(path)
    raw, text = read_config_text(name)
    _log.info("using config %s", name)
    place = _place(raw)
    if place is not None:
        try:
            data = _remembered(place)
        except LookupError:
            pass
        else:
            return ConfigDocument(source=name, data=data, marks=ParsedMarks(text, name)), _forget
    from tokenrack.config.document import parse_document

    document = parse_document(text, source=name)
    if place is None:
        return document, _forget
    found = place
    return document, lambda config: _remember(found, document, config)


_BARE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# Keys of the core cache backends whose written strings are never secrets (a ``url`` only
# without userinfo): deciding needs no backend imported.
_PLAIN_CACHE_KEYS = frozenset(
    {"backend", "path", "key_prefix", "ca_bundle", "client_cert", "client_key", "username"}
)


def _cache_may_hold_secret(cache: Any) -> bool:
    """Whether a ``cache`` value writes a string that could be a secret."""
    if not isinstance(cache, dict):
        return False
    for key, value in cache.items():
        if not isinstance(value, str) or key in _PLAIN_CACHE_KEYS:
            continue
        if key == "url" and "@" not in value:
            continue
        if _BARE_REFERENCE.fullmatch(value):
            continue  # ${NAME} alone: read from the environment, nothing written
        return True
    return False


def _holds_no_secret(document: ConfigDocument, config: Config) -> bool:
    """Whether the file writes no secret inline (only references), as far as can be told.

    The profiles' own keys are judged as the readable-file warning judges them; ``cache``
    values by the core backends' keys (anything else written as a string counts as a
    secret); an ``agent`` section always counts (its bearer may be inline).
    """
    data = document.data
    if not isinstance(data, dict) or "agent" in data:
        return False
    profiles = data.get("profiles")
    if not isinstance(profiles, dict) or (not profiles and data.get("defaults")):
        return False  # a defaults section no profile inherits is not looked at below
    sections = [data.get("defaults"), *profiles.values()]
    if any(isinstance(s, dict) and _cache_may_hold_secret(s.get("cache")) for s in sections):
        return False
    written = config.written_secrets(inline_only=True)
    return not any(isinstance(value, Secret) for _, value in written)


def _string_keys_only(value: Any) -> bool:
    """Whether JSON keeps every key as it is (it would turn ``1:`` into ``"1"``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _remember(place: _Place, document: ConfigDocument, config: Config) -> None:
    """Keep a file just parsed and loaded (best effort; see the module's docstring).

    Data without one exact JSON form (a date, binary, a non-string key) is not kept.
    """
    if not _holds_no_secret(document, config) or not _string_keys_only(document.data):
        return
    try:
        text = json.dumps(document.data, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        return
    if len(text) > _MAX_ENTRY_BYTES:
        return
    try:
        write_private(place.path, f"{place.mac(text)}\n{text}".encode(), durable=False)
        _prune(place.directory)
    except OSError as error:
        _log.debug("parsed config not remembered: %s", error)


def _prune(directory: str) -> None:
    """Keep the newest :data:`KEPT` entries."""
    entries = []
    for entry in os.scandir(directory):
        if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                entries.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
    for _, path in sorted(entries, reverse=True)[KEPT:]:
        with contextlib.suppress(OSError):
            os.unlink(path)
