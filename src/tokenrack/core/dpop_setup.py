"""A profile's DPoP key, from ``dpop``, ``dpop_alg`` and ``dpop_key``: loaded or generated.

Without ``dpop_key`` the key is generated once per process and profile: tokens it binds are
of use to this process alone, and the thumbprint in the cache key keeps other processes
(sharing a file or Redis cache) from being served them. With ``dpop_key`` every process
holding that key shares its tokens; the key is a secret (fingerprinted like any other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tokenrack.auth.dpop import DEFAULT_ALGORITHM, DPoP, DPoPKey, process_key
from tokenrack.auth.signing import JWT_EXTRA, KeyMaterialError, jwt_available
from tokenrack.errors import ConfigError
from tokenrack.secret.value import Secret

if TYPE_CHECKING:
    from tokenrack.config.assemble import ProfileConfig

__all__ = ["DPOP_PART", "profile_dpop"]

DPOP_PART = "dpop_jkt"
"""The cache key part holding the DPoP key's thumbprint."""


def profile_dpop(
    config: ProfileConfig, source: str | None, secrets: Mapping[str, Secret]
) -> DPoP | None:
    """The profile's DPoP, or None when ``dpop`` is off.

    Raises:
        ConfigError: The ``tokenrack[jwt]`` extra is missing (this profile alone is
            unusable), or ``dpop_key`` is not a usable private key for ``dpop_alg``.
    """
    options = config.parsed
    if not options.dpop:
        return None
    name = config.name
    if not jwt_available():
        raise ConfigError(
            f"dpop: true needs the {JWT_EXTRA} extra: pip install '{JWT_EXTRA}'",
            file=source,
            profile=name,
            path=f"profiles.{name}.dpop",
        )
    material = secrets.get("dpop_key")
    try:
        if material is not None:
            key = DPoPKey.load(material.reveal(), options.dpop_alg)
        else:
            key = process_key(f"{source}\n{name}", options.dpop_alg or DEFAULT_ALGORITHM)
    except KeyMaterialError as error:
        option = "dpop_key" if material is not None else "dpop_alg"
        raise ConfigError(
            str(error), file=source, profile=name, path=f"profiles.{name}.{option}"
        ) from None
    return DPoP(key, profile=name)
