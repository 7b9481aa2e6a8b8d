"""The :class:`Token` value every caller gets back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Token"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, repr=False)
class Token:
    """An OAuth 2.0 access token and what the server said about it.

    Attributes:
        access_token: The token itself. Never shown by ``repr`` or ``str``.
        token_type: Normalised type, e.g. ``Bearer`` (the server's ``bearer`` included).
        expires_at: When the token expires, in epoch seconds on this host's clock.
        scopes: The scopes granted (the server's ``scope`` if it sent one, else those asked).
        extra: Other response fields (e.g. Salesforce's ``instance_url``); refresh and ID
            tokens are never kept.
    """

    access_token: str
    token_type: str
    expires_at: float
    scopes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value, e.g. ``Bearer eyJ…``."""
        return f"{self.token_type} {self.access_token}"

    def expires_in(self, *, now: float | None = None) -> float:
        """Seconds until expiry (negative once expired), by this host's wall clock."""
        return self.expires_at - (time.time() if now is None else now)

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"scopes={self.scopes!r}, extra_keys={sorted(self.extra)!r}, access_token='***')"
        )

    __str__ = __repr__
