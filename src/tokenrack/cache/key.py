"""Cache keys: a digest of everything that shapes a token, and never the secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

__all__ = ["cache_key"]


def cache_key(parts: Mapping[str, str]) -> str:
    """A stable, opaque key for a token's identity (``provider``, URL, client, scopes, …).

    The digest keeps the key short and safe to use as a file or Redis key name; the parts
    themselves are never secret, but they need not be spelled out either. The credential
    enters only as a keyed fingerprint (part ``credential``, see
    :mod:`tokenrack.core.credential`), so a key name is no guessing oracle for a secret.
    """
    canonical = json.dumps(dict(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]
