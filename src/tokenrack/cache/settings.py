"""A profile's ``cache`` option, normalised: which backend, its options and its secrets.

Read by the registry when it wires a profile's shared cache, and by the CLI's warm path
(which must stay cheap: nothing here imports cryptography, redis or requests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenrack.secret.value import Secret, SecretRef

__all__ = ["PLAINTEXT_PROBLEM", "CacheSettings", "cache_settings", "needs_plaintext_opt_in"]

PLAINTEXT_PROBLEM = (
    "without encryption_key, anyone who can write this cache can plant tokens and anyone "
    "who can read it can use them: set cache.encryption_key (recommended), or say "
    "cache.plaintext: true to accept that"
)
"""Why a backend that asks for it refuses to run without ``encryption_key`` or ``plaintext``."""


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """A profile's ``cache`` option, normalised.

    Attributes:
        backend: The backend's name (``memory`` means no shared layer).
        options: The backend's own options (no secrets, no ``backend``).
        secrets: The backend's secret options, still unresolved.
        encryption_key: The ``encryption_key`` secret, still unresolved, if any.
        lock_lease: The configured lease in seconds, if any.
    """

    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Secret | SecretRef] = field(default_factory=dict)
    encryption_key: Secret | SecretRef | None = None
    lock_lease: float | None = None

    def identity(self) -> str:
        """What makes two profiles use the same backend instance (and circuit breaker)."""
        secret_ids = {
            k: (repr(v) if isinstance(v, SecretRef) else f"inline-{id(v)}")
            for k, v in sorted(self.secrets.items())
        }
        return json.dumps(
            [self.backend, dict(self.options), secret_ids], sort_keys=True, default=repr
        )


def cache_settings(option: Any, *, secret_options: frozenset[str] = frozenset()) -> CacheSettings:
    """Normalise a profile's ``cache`` value (``memory``, ``file``, or a mapping).

    Args:
        option: The value as loaded (validated by the schema).
        secret_options: The backend's secret option names.
    """
    if option is None:
        return CacheSettings("memory")
    if isinstance(option, str):
        return CacheSettings(option)
    options = dict(option)
    backend = str(options.pop("backend"))
    key = options.pop("encryption_key", None)
    lease = options.pop("lock_lease", None)
    secrets = {k: options.pop(k) for k in list(options) if k in secret_options}
    return CacheSettings(
        backend=backend,
        options=options,
        secrets=secrets,
        encryption_key=key,
        lock_lease=float(lease) if lease is not None else None,
    )


def needs_plaintext_opt_in(settings: CacheSettings, options_schema: Mapping[str, Any]) -> bool:
    """Whether these settings lack the ``plaintext: true`` their backend asks for.

    A backend that others may write (Redis) declares a ``plaintext`` option in its
    ``options_schema``; a profile using it must then set an ``encryption_key`` or say
    ``plaintext: true``.
    """
    if "plaintext" not in dict(options_schema.get("properties", {})):
        return False
    return settings.encryption_key is None and settings.options.get("plaintext") is not True
