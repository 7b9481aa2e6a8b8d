"""How the CLI prints: tokens alone, as a header or as JSON, and tables (standard library only).

The warm path prints through this module too, so it imports nothing beyond the standard
library's json and time (datetime only for ``--json``).
"""

from __future__ import annotations

import json
import time

__all__ = ["header_line", "iso8601", "print_token", "table", "token_document"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

_TOKEN_FIELDS = ("access_token", "token_type", "expires_at", "scopes", "extra")


def iso8601(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time, to the second."""
    # Imported here: only --json shows a time, and the warm path prints tokens alone.
    import datetime

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


def print_token(fields: Mapping[str, Any], *, as_json: bool, as_header: bool) -> int:
    """Print the token alone, as an ``Authorization`` header, or as JSON; return exit code 0.

    Args:
        fields: The token's ``access_token``, ``token_type``, ``expires_at``, ``scopes``
            and ``extra`` (other members, such as a cached record's times, are ignored).
        as_json: Print :func:`token_document` as JSON.
        as_header: Print :func:`header_line`.
    """
    if as_json:
        document = token_document(**{name: fields[name] for name in _TOKEN_FIELDS})
        print(json.dumps(document, indent=2))
    elif as_header:
        print(header_line(fields["token_type"], fields["access_token"]))
    else:
        print(fields["access_token"])
    return 0


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded.

    Args:
        header: The column titles.
        rows: One sequence of cells per line, as many as ``header`` has.
    """
    lines = [tuple(str(cell) for cell in line) for line in (header, *rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    )
