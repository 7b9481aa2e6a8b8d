"""``tokenrack inspect``: a JWT access token's header and claims, decoded, not verified."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tokenrack.cli.common import UsageError, load_registry, profile_name
from tokenrack.cli.output import rfc3339
from tokenrack.oauth.response import decode_jws_parts

__all__ = ["decode_jwt", "run_inspect"]


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a JWS-shaped token, or None when it is not one."""
    return decode_jws_parts(token.strip())


def _relative(seconds: float) -> str:
    return f"in {seconds:.0f}s" if seconds >= 0 else f"{-seconds:.0f}s ago"


def _when(value: Any, now: float) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{rfc3339(value)} ({_relative(value - now)})"


def _json_time(value: Any) -> str | None:
    """A time for ``--json``: RFC 3339 UTC, as every JSON output of the CLI shows times."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return rfc3339(value)


def _seconds_left(value: Any, now: float) -> int | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return int(value - now)


def run_inspect(args: argparse.Namespace) -> int:
    """Print what the token says about itself; never the token."""
    now = time.time()
    expires_at: float | None = None
    if args.token is not None:
        if args.token != "-":
            raise UsageError(
                "--token takes '-' (read the token from stdin), never the token itself"
            )
        token = sys.stdin.read().strip()
        origin = "token from stdin"
    else:
        registry = load_registry(args)
        name = profile_name(args, registry)
        fetched = registry.get_token(name)
        token, expires_at = fetched.access_token, fetched.expires_at
        origin = f"profile {name}"
    decoded = decode_jwt(token)
    if decoded is None:
        left = f", expires {_when(expires_at, now)} (from the token response)" if expires_at else ""
        if args.json:
            document = {
                "format": "opaque",
                "length": len(token),
                "expires_at": _json_time(expires_at),
                "expires_in": _seconds_left(expires_at, now),
            }
            print(json.dumps(document, indent=2))
        else:
            print(f"{origin}: an opaque token ({len(token)} characters), not a JWT{left}")
        return 0
    header, claims = decoded
    exp = claims.get("exp")
    if args.json:
        # The claims are the token's own (exp, iat and nbf in epoch seconds, as JWT says);
        # expires_at is the CLI's one time format.
        document = {
            "format": "jwt",
            "expires_at": _json_time(exp),
            "expires_in": _seconds_left(exp, now),
            "header": header,
            "claims": claims,
        }
        print(json.dumps(document, indent=2))
        return 0
    scopes = claims.get("scp", claims.get("scope", "-"))
    rows = [
        ("token", f"{origin}: a JWT, decoded WITHOUT verifying its signature"),
        ("alg / kid", f"{header.get('alg', '-')} / {header.get('kid', '-')}"),
        ("iss", claims.get("iss", "-")),
        ("sub", claims.get("sub", "-")),
        ("aud", claims.get("aud", "-")),
        ("scp / scope", " ".join(scopes) if isinstance(scopes, list) else scopes),
        ("iat", _when(claims.get("iat"), now)),
        ("exp", _when(exp, now)),
    ]
    for label, value in rows:
        print(f"{label:<12} {value}")
    print(f"{'header':<12} {json.dumps(header, sort_keys=True)}")
    print(f"{'claims':<12} {json.dumps(claims, sort_keys=True)}")
    return 0
