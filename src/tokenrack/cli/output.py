"""How tokens are printed: alone, as a header, or as JSON (standard library only)."""

from __future__ import annotations

import datetime
import time

__all__ = ["header_line", "iso8601", "token_document"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any


def iso8601(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time, to the second."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def header_line(token_type: str, access_token: str) -> str:
    """``Authorization: Bearer …``."""
    return f"Authorization: {token_type} {access_token}"


def token_document(
    *,
    access_token: str,
    token_type: str,
    expires_at: float,
    scopes: Iterable[str],
    extra: Mapping[str, Any],
    now: float | None = None,
) -> dict[str, Any]:
    """What ``--json`` prints: the token only under ``access_token``, then its facts."""
    now = time.time() if now is None else now
    return {
        "access_token": access_token,
        "token_type": token_type,
        "expires_at": iso8601(expires_at),
        "expires_in": max(0, int(expires_at - now)),
        "scopes": list(scopes),
        "extra": dict(extra),
    }
