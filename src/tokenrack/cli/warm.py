"""The warm path: a fresh token from the file cache, with nothing heavy imported.

When the config was seen before (see :mod:`tokenrack.cli.snapshot`) and the file cache holds
a fresh, unencrypted token for the profile, :func:`cached_fields` returns it without
parsing YAML, validating, loading plugins or importing requests, jsonschema, stevedore or
redis. Anything unusual — a changed config or variable, an encrypted, unsafe or missing
record, a token in its refresh window — answers None, and the full path runs (which still
finds the cached token, through the shared cache, if it can use it).
"""

from __future__ import annotations

import os
import time

from tokenrack.cli import snapshot
from tokenrack.util.windows import early_margin

__all__ = ["CLI_CACHE_VARIABLE", "cached_fields", "fresh_for", "remember"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from tokenrack.core.registry import Registry

CLI_CACHE_VARIABLE = "TOKENRACK_CLI_CACHE"


def fresh_for(entry: dict[str, Any], obtained_at: float, lifetime: float, now: float) -> float:
    """Seconds the token stays fresh, before its early-refresh window opens.

    By the profile's ``refresh_before``, without jitter: a process that lives for one call
    has no refresh to spread out.
    """
    # The store's formula (util.windows), not core.store itself: that module pulls in
    # dataclasses, logging and threading, which made the warm call 5.1x `python -c pass`.
    return obtained_at + lifetime - early_margin(lifetime, entry.get("refresh_before")) - now


def cached_fields(config: str, profile: str, *, min_ttl: float | None) -> dict[str, Any] | None:
    """The cached token's fields for ``profile`` of ``config``, or None for the full path."""
    if os.environ.get(CLI_CACHE_VARIABLE) == "off":
        return None
    try:
        with open(config, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    document = snapshot.load(snapshot.config_digest(config, data))
    if document is None:
        return None
    entry = document["profiles"].get(profile)
    recorded = document.get("env", {})
    if not isinstance(entry, dict) or snapshot.env_digests(recorded, os.environ) != recorded:
        return None
    if not isinstance(entry.get("exec_drop"), list):  # recorded before exec withheld them
        return None
    from tokenrack.cache.envelope import RecordError, plain_token
    from tokenrack.cache.paths import default_cache_directory, record_path
    from tokenrack.errors import CacheError
    from tokenrack.util.safe_file import check_directory, read_private

    try:
        path = entry["options"].get("path")
        folder = os.path.abspath(os.path.expanduser(path) if path else default_cache_directory())
        check_directory(folder)
        raw = read_private(record_path(folder, entry["cache_key"]))
        if raw is None:
            return None
        fields = plain_token(raw, key=entry["cache_key"])
    except (CacheError, RecordError, KeyError, TypeError, ValueError, AttributeError):
        return None
    now = time.time()
    if fresh_for(entry, fields["obtained_at"], fields["lifetime"], now) <= 0:
        return None
    if min_ttl is not None and fields["obtained_at"] + fields["lifetime"] - now < min_ttl:
        return None
    fields["exec_drop"] = entry["exec_drop"]
    return fields


def remember(
    args: argparse.Namespace, profile: str, registry: Registry, environ: snapshot.RecordingEnviron
) -> None:
    """After a full-path call, record what the warm path needs for ``profile`` (best effort).

    Only a profile whose tokens live unencrypted in the file cache can be served warm.
    """
    from tokenrack.cache.settings import cache_settings
    from tokenrack.cli.common import config_path
    from tokenrack.cli.exec_env import secret_variables

    runtime = registry.runtime(profile)
    settings = cache_settings(runtime.config.options.get("cache", registry.default_cache))
    if settings.backend != "file" or settings.encryption_key is not None:
        return
    try:
        path = config_path(args)
        with open(path, "rb") as handle:
            digest = snapshot.config_digest(path, handle.read())
    except Exception:  # remembering is an optimisation; the call itself succeeded
        return
    entry = {
        "cache_key": runtime.cache_key,
        "options": dict(settings.options),
        "refresh_before": runtime.config.options.get("refresh_before"),
        # The variables `exec` withholds from its command (names, never values).
        "exec_drop": secret_variables(runtime.config.options, os.environ),
    }
    snapshot.save(
        digest, profile=profile, entry=entry, env=snapshot.env_digests(environ.read, os.environ)
    )
