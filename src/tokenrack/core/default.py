"""The default registry behind :func:`tokenrack.get_token`, built lazily and once."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry
    from tokenrack.token import Token

__all__ = ["aget_token", "configure", "default_registry", "get_token", "loaded_registry"]

_lock = threading.Lock()
_registry: Registry | None = None


def configure(target: str | os.PathLike[str] | Registry | None) -> Registry | None:
    """Set the default registry: from a config file path, a :class:`Registry`, or None.

    None forgets the current default, so the next :func:`get_token` discovers the config
    again (``TOKENRACK_CONFIG``, ``./tokenrack.yaml``, XDG, ``/etc``; of the last three,
    the first that is yours alone: see :mod:`tokenrack.config.discover`).

    Returns:
        The new default registry, or None.

    Raises:
        ConfigError: The file is missing or invalid.
    """
    from tokenrack.core.registry import Registry

    global _registry
    registry = (
        target if isinstance(target, Registry) or target is None else Registry.from_file(target)
    )
    with _lock:
        previous, _registry = _registry, registry
    if previous is not None and previous is not registry:
        previous.close()
    return registry


def default_registry() -> Registry:
    """The default registry, built from the discovered config at the first call.

    The one behind :func:`get_token`, :func:`aget_token` and ``BearerAuth(profile)``:
    ``tokenrack.default_registry().stats()`` reports what they did (docs/observability.md).

    Raises:
        ConfigError: No config was found, or it is invalid.
    """
    global _registry
    registry = _registry
    if registry is not None:
        return registry
    with _lock:
        if _registry is None:
            from tokenrack.core.registry import Registry

            _registry = Registry.from_file()
        return _registry


def loaded_registry() -> Registry | None:
    """The default registry if it is built already, else None (never reads a config)."""
    return _registry


def get_token(profile: str, *, force_refresh: bool = False) -> Token:
    """A valid token for ``profile`` from the default registry.

    Raises:
        ConfigError: No config, an invalid one, or no such profile.
        PluginError: The profile's provider cannot be loaded.
        TokenError: No valid token could be obtained.
    """
    registry = _registry
    if registry is not None and not force_refresh:
        # Registry.get_token's own first step, inlined: a fresh token costs one frame, not
        # three (this function, the registry's method, fresh_token). Any other state goes
        # through the registry, which repeats the check.
        try:
            found = registry._profiles[profile]
        except KeyError:
            pass
        else:
            entry = found.slot.entry
            if entry is not None and registry._monotonic() < entry.refresh_at:
                found.stats.hits += 1
                return entry.token
    return default_registry().get_token(profile, force_refresh=force_refresh)


async def aget_token(profile: str, *, force_refresh: bool = False) -> Token:
    """:func:`get_token` for asyncio, from the default registry.

    The first call builds the default registry in a worker thread (it reads the config
    file), so the event loop never waits on that either.

    Raises:
        The same errors as :func:`get_token`.
    """
    registry = _registry
    if registry is None:
        import asyncio

        registry = await asyncio.to_thread(default_registry)
    elif not force_refresh:
        # The same inlined first step as get_token's: a hit never awaits anything.
        try:
            found = registry._profiles[profile]
        except KeyError:
            pass
        else:
            entry = found.slot.entry
            if entry is not None and registry._monotonic() < entry.refresh_at:
                found.stats.hits += 1
                return entry.token
    return await registry.aget_token(profile, force_refresh=force_refresh)
