"""How the CLI prints: tokens in every ``--format``, and tables (standard library only).

The warm path prints through this module too, so it imports nothing beyond the standard
library's json and time (datetime and shlex only for the formats that need them).

Every time in JSON output is an RFC 3339 UTC string to the second (``2026-12-01T09:10:16Z``):
``token --json``, ``--format exec-credential``, ``inspect --json``, ``cache list --json``.
"""

from __future__ import annotations

import json
import os
import time

__all__ = [
    "DPOP_VARIABLE",
    "EXEC_CREDENTIAL_VERSIONS",
    "FORMATS",
    "dpop_output",
    "env_lines",
    "exec_credential",
    "expires_variable",
    "format_token",
    "header_line",
    "iso8601",
    "min_ttl_unmet",
    "print_token",
    "rfc3339",
    "table",
    "token_document",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

FORMATS = ("raw", "json", "env", "header", "exec-credential")
"""The values of ``token --format``; ``raw`` (the token alone) is the default."""

EXEC_CREDENTIAL_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)
"""The ExecCredential versions tokenrack answers in (the first unless kubectl asks for another)."""

ENV_VARIABLE = "TOKENRACK_TOKEN"
"""The variable ``--format env`` and ``exec`` put the token in (``exec --env`` changes it)."""

DPOP_VARIABLE = "TOKENRACK_DPOP_PROOF"
"""The variable ``--format env`` puts a ``--dpop-proof`` in."""

_TOKEN_FIELDS = ("access_token", "token_type", "expires_at", "scopes", "extra")


def rfc3339(epoch: float) -> str:
    """Epoch seconds as an RFC 3339 UTC time to the second, e.g. ``2026-12-01T09:10:16Z``."""
    # Imported here: the warm path prints tokens alone unless a format shows a time.
    import datetime

    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


iso8601 = rfc3339
"""The same function under its former name (RFC 3339 is a profile of ISO 8601)."""


def expires_variable(variable: str) -> str:
    """The variable that holds the token's expiry next to ``variable``: ``<NAME>_EXPIRES_AT``."""
    return f"{variable}_EXPIRES_AT"


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
    """What ``--format json`` prints: the token only under ``access_token``, then its facts."""
    now = time.time() if now is None else now
    return {
        "access_token": access_token,
        "token_type": token_type,
        "expires_at": rfc3339(expires_at),
        "expires_in": max(0, int(expires_at - now)),
        "scopes": list(scopes),
        "extra": dict(extra),
    }


def env_lines(access_token: str, expires_at: float, *, variable: str = ENV_VARIABLE) -> str:
    """``NAME=value`` lines, shell-quoted, safe to ``eval``: the token and its expiry.

    The expiry is whole epoch seconds, for shell arithmetic against ``date +%s``.
    """
    import shlex

    return f"{variable}={shlex.quote(access_token)}\n{expires_variable(variable)}={int(expires_at)}"


def _requested_exec_credential_version(environ: Mapping[str, str]) -> str:
    """The ExecCredential version kubectl asked for in ``KUBERNETES_EXEC_INFO`` (else v1)."""
    try:
        info = json.loads(environ.get("KUBERNETES_EXEC_INFO", ""))
    except ValueError:
        return EXEC_CREDENTIAL_VERSIONS[0]
    asked = info.get("apiVersion") if isinstance(info, dict) else None
    return asked if asked in EXEC_CREDENTIAL_VERSIONS else EXEC_CREDENTIAL_VERSIONS[0]


def exec_credential(
    access_token: str, expires_at: float, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ExecCredential kubectl reads, for the token, in the version kubectl asked for.

    Args:
        access_token: The token kubectl sends as ``Authorization: Bearer``.
        expires_at: Epoch seconds; kubectl runs tokenrack again after it.
        environ: Where ``KUBERNETES_EXEC_INFO`` is read (``os.environ`` when omitted).
    """
    version = _requested_exec_credential_version(os.environ if environ is None else environ)
    return {
        "apiVersion": version,
        "kind": "ExecCredential",
        # The API marks spec required; kubectl only reads status, and an empty spec is what
        # other credential plugins answer.
        "spec": {},
        "status": {"token": access_token, "expirationTimestamp": rfc3339(expires_at)},
    }


def format_token(fields: Mapping[str, Any], output: str = "raw") -> str:
    """The text ``token --format output`` prints, without the final newline.

    Args:
        fields: The token's ``access_token``, ``token_type``, ``expires_at``, ``scopes``
            and ``extra`` (other members, such as a cached record's times, are ignored).
        output: One of :data:`FORMATS`.

    Raises:
        ValueError: ``output`` is not one of :data:`FORMATS`.
    """
    if output == "raw":
        return str(fields["access_token"])
    if output == "header":
        return header_line(fields["token_type"], fields["access_token"])
    if output == "json":
        document = token_document(**{name: fields[name] for name in _TOKEN_FIELDS})
        return json.dumps(document, indent=2)
    if output == "env":
        return env_lines(fields["access_token"], fields["expires_at"])
    if output == "exec-credential":
        return json.dumps(exec_credential(fields["access_token"], fields["expires_at"]), indent=2)
    raise ValueError(f"unknown format {output!r}; expected one of: {', '.join(FORMATS)}")


def print_token(fields: Mapping[str, Any], output: str = "raw") -> int:
    """Print the token in the ``output`` format (see :func:`format_token`); return exit code 0.

    Raises:
        ValueError: ``output`` is not one of :data:`FORMATS`.
    """
    print(format_token(fields, output))
    return 0


def min_ttl_unmet(profile: str, min_ttl: float, lifetime: float) -> str:
    """The error when ``--min-ttl`` asks for more than the server grants (both paths say it)."""
    return (
        f"profile {profile!r}: --min-ttl {min_ttl:g} cannot be met: its tokens live "
        f"{lifetime:.0f} s (the server's expires_in); ask for less, or have the server's "
        "token lifetime raised"
    )


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


def dpop_output(fields: Mapping[str, Any], proof: str, output: str = "raw") -> str:
    """What ``token --dpop-proof METHOD URL`` prints: the proof, with the token if asked.

    ``raw``: the proof alone; ``header``: the ``Authorization`` and ``DPoP`` header lines
    (for ``curl -H @file``); ``json``: the token document with ``dpop_proof``; ``env``: the
    token's lines and ``TOKENRACK_DPOP_PROOF``.

    Raises:
        ValueError: ``output`` has no form with a proof (``exec-credential``).
    """
    if output == "raw":
        return proof
    if output == "header":
        return f"{header_line(fields['token_type'], fields['access_token'])}\nDPoP: {proof}"
    if output == "json":
        document = token_document(**{name: fields[name] for name in _TOKEN_FIELDS})
        return json.dumps({**document, "dpop_proof": proof}, indent=2)
    if output == "env":
        return f"{env_lines(fields['access_token'], fields['expires_at'])}\n{DPOP_VARIABLE}={proof}"
    raise ValueError(f"--dpop-proof has no {output!r} format")
