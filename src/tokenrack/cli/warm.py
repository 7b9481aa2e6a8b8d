"""The warm path: a fresh token from the file cache, with nothing heavy imported.

When the config was seen before (see :mod:`tokenrack.cli.snapshot`) and the file cache holds
a fresh, unencrypted token for the profile, :func:`cached_fields` returns it without
parsing YAML, validating, loading plugins or importing requests, jsonschema, stevedore or
redis. Anything unusual — a changed config or variable, an encrypted, unsafe or missing
record, a token in its refresh window — answers None, and the full path runs (which still
finds the cached token, through the shared cache, if it can use it).

The token is served only to a holder of the credential that obtained it (the snapshot's
cache key carries its fingerprint): ``{env:}`` and ``{file:}`` secrets are read again on
every call and checked against the snapshot's verifiers; inline and ``${VAR}`` ones are
covered by the config's digest and the variables' verifiers. A ``{command:}`` secret (or
one from a plugin's source) is not run here: the last full-path verification is trusted
for :data:`TRUST_INTERVAL` seconds at most, and never beyond the token's lifetime.
"""

from __future__ import annotations

import hmac
import os
import time

from tokenrack.cli import snapshot
from tokenrack.util.windows import early_margin

__all__ = [
    "CLI_CACHE_VALUES",
    "CLI_CACHE_VARIABLE",
    "TRUST_INTERVAL",
    "cached_fields",
    "cli_cache_enabled",
    "fresh_for",
    "remember",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import Any

    from tokenrack.core.registry import Registry
    from tokenrack.core.runtime import ProfileRuntime

CLI_CACHE_VARIABLE = "TOKENRACK_CLI_CACHE"

CLI_CACHE_VALUES = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
"""What ``TOKENRACK_CLI_CACHE`` may be set to (any case); unset or empty means on."""


def cli_cache_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the CLI keeps tokens in the file cache, by ``TOKENRACK_CLI_CACHE``.

    Raises:
        ValueError: The variable holds something else than :data:`CLI_CACHE_VALUES` (a typo
            such as ``of`` must not quietly mean "on").
    """
    value = (os.environ if environ is None else environ).get(CLI_CACHE_VARIABLE, "").strip()
    if not value:
        return True
    try:
        return CLI_CACHE_VALUES[value.lower()]
    except KeyError:
        allowed = "/".join(CLI_CACHE_VALUES)
        raise ValueError(
            f"{CLI_CACHE_VARIABLE}={value!r} is not understood; expected one of {allowed}"
        ) from None


TRUST_INTERVAL = 300.0
"""Seconds a full-path check of a secret the warm path cannot re-read cheaply is trusted."""

# Secret sources the warm path reads itself, as the built-in sources do (secret/sources.py).
_REREAD = ("env", "file")


def fresh_for(
    entry: dict[str, Any],
    obtained_at: float,
    lifetime: float,
    now: float,
    stored_at: float | None = None,
) -> float:
    """Seconds the token stays fresh, before its early-refresh window opens.

    By the profile's ``refresh_before``, without jitter: a process that lives for one call
    has no refresh to spread out. The token's age is the shared cache's
    (:func:`tokenrack.cache.envelope.token_age`): a negative one is never taken as zero.

    Raises:
        RecordError: The record's times lie in this host's future beyond the skew tolerance.
    """
    from tokenrack.cache.envelope import token_age

    # The store's formula (util.windows), not core.store itself: that module pulls in
    # dataclasses, logging and threading, which made the warm call 5.1x `python -c pass`.
    age = token_age(obtained_at, now, stored_at)
    return lifetime - early_margin(lifetime, entry.get("refresh_before")) - age


def cached_fields(
    config: str, profile: str | None, *, min_ttl: float | None
) -> dict[str, Any] | None:
    """The cached token's fields for ``profile`` of ``config``, or None for the full path.

    ``profile`` None means the config's ``default_profile``, as the snapshot recorded it.
    When ``min_ttl`` is more than the cached token's whole lifetime (what the server grants),
    the fields carry ``min_ttl_unmet`` (that lifetime): no new token could meet it either.
    """
    try:
        if not cli_cache_enabled():
            return None
    except ValueError:  # the full path reports it
        return None
    try:
        with open(config, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    document = snapshot.load(snapshot.config_digest(config, data))
    if document is None:
        return None
    if profile is None:
        profile = document.get("default_profile")
        if not isinstance(profile, str):
            return None
    entry = document["profiles"].get(profile)
    recorded = document.get("env", {})
    salt = document["salt"]
    if not isinstance(entry, dict) or snapshot.env_digests(recorded, os.environ, salt) != recorded:
        return None
    if not isinstance(entry.get("exec_drop"), list):  # recorded before exec withheld them
        return None
    from tokenrack.cache.envelope import RecordError, plain_token, token_age
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
        now = time.time()
        fields = plain_token(raw, key=entry["cache_key"], now=now)
        obtained_at, lifetime, stored_at = (
            fields["obtained_at"],
            fields["lifetime"],
            fields["stored_at"],
        )
        age = token_age(obtained_at, now, stored_at)
        if fresh_for(entry, obtained_at, lifetime, now, stored_at) <= 0:
            return None
    except (CacheError, RecordError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if not _credential_holds(entry, salt, now, fields["lifetime"]):
        return None
    fields["profile"] = profile
    fields["exec_drop"] = entry["exec_drop"]
    if min_ttl is not None and fields["lifetime"] - age < min_ttl:
        if fields["lifetime"] > min_ttl:
            return None  # a new token would meet it: the full path fetches one
        fields["min_ttl_unmet"] = fields["lifetime"]
    return fields


def _credential_holds(entry: dict[str, Any], salt: str, now: float, lifetime: float) -> bool:
    """Whether this caller still holds the credential the snapshot's cache key was made from."""
    try:
        specs = entry["secrets"]
        trusted_until = float(entry["verified_at"]) + min(TRUST_INTERVAL, float(lifetime))
        for spec in specs.values():
            source = spec["source"]
            if source not in _REREAD:
                if now >= trusted_until:
                    return False
                continue
            value = _read(source, str(spec["argument"]))
            if value is None:
                return False
            if not hmac.compare_digest(snapshot.verifier(salt, value), str(spec["verifier"])):
                return False
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def _read(source: str, argument: str) -> str | None:
    """An ``{env:}`` or ``{file:}`` secret, read as its source reads it; None if unusable."""
    if source == "env":
        return os.environ.get(argument) or None
    try:
        with open(os.path.expanduser(argument), encoding="utf-8") as handle:
            value = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    return value or None


def _secret_specs(
    runtime: ProfileRuntime, salt: str, directory: str | None
) -> dict[str, dict[str, Any]]:
    """What the warm path checks of each secret: a verifier, or trust for a while.

    A relative ``{file:}`` path is recorded as the full path reads it: the config file's.
    """
    from tokenrack.secret.sources import anchored_path
    from tokenrack.secret.value import SecretRef

    resolved = runtime.secrets()
    specs: dict[str, dict[str, Any]] = {}
    for name, value in runtime.options.secrets.items():
        # Inline secrets are in the config's digest; ${VAR} ones in the variables' verifiers.
        if not isinstance(value, SecretRef) or value.source == "template":
            continue
        if value.source in _REREAD:
            argument = str(value.argument)
            if value.source == "file":
                argument = anchored_path(argument, directory)
            specs[name] = {
                "source": value.source,
                "argument": argument,
                "verifier": snapshot.verifier(salt, resolved[name].reveal()),
            }
        else:
            specs[name] = {"source": value.source}
    return specs


def remember(
    args: argparse.Namespace,
    profile: str,
    registry: Registry,
    environ: snapshot.RecordingEnviron,
    *,
    default: bool = False,
) -> None:
    """After a full-path call, record what the warm path needs for ``profile`` (best effort).

    Only a profile whose tokens live unencrypted in the file cache can be served warm.
    ``default``: ``profile`` is the config's ``default_profile`` (a call naming no profile).
    """
    from tokenrack.cache.settings import cache_settings
    from tokenrack.cli.common import config_path
    from tokenrack.cli.exec_env import secret_variables

    runtime = registry.runtime(profile)
    # The parsed option: a relative file cache path is already the config file's.
    option = runtime.options.cache
    settings = cache_settings(registry.default_cache if option is None else option)
    if settings.backend != "file" or settings.encryption_key is not None:
        return
    if runtime.dpop is not None and runtime.dpop.key.ephemeral:
        return  # bound to this process's DPoP key: of no use to the next process
    try:
        path = config_path(args)
        with open(path, "rb") as handle:
            digest = snapshot.config_digest(path, handle.read())
    except Exception:  # remembering is an optimisation; the call itself succeeded
        return
    verified_at = time.time()

    def build(salt: str) -> tuple[dict[str, Any], dict[str, str | None]]:
        entry = {
            "cache_key": runtime.cache_key,
            "options": dict(settings.options),
            "refresh_before": runtime.config.options.get("refresh_before"),
            "secrets": _secret_specs(runtime, salt, registry.config.directory),
            "verified_at": verified_at,
            # The variables `exec` withholds from its command (names, never values).
            "exec_drop": secret_variables(runtime.config.options, os.environ),
        }
        return entry, snapshot.env_digests(environ.read, os.environ, salt)

    try:
        snapshot.save(digest, profile=profile, build=build, default=default)
    except Exception:  # remembering is an optimisation; the call itself succeeded
        return
