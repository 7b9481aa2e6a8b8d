"""``tokenrack cache list | purge [PROFILE]``: cached tokens, described, never shown."""

from __future__ import annotations

import argparse
import json

from tokenrack.cli.common import load_registry
from tokenrack.cli.output import iso8601

__all__ = ["run_cache"]


def run_cache(args: argparse.Namespace) -> int:
    """List the cache entries of every profile (or one), or purge them."""
    from tokenrack.cache_admin import list_cache_entries, purge_cache

    registry = load_registry(args)
    if args.action == "purge":
        result = purge_cache(registry, profile=args.profile)
        for profile in result.shared:
            print(f"{profile}: shared record deleted")
        for profile, reason in dict(result.failed).items():
            print(f"{profile}: could not purge: {reason}")
        if not result.shared and not result.failed:
            print("nothing cached to purge")
        return 5 if result.failed else 0
    entries = list_cache_entries(registry, profile=args.profile)
    rows = [
        {
            "profile": e.profile,
            "backend": e.backend,
            "state": e.state,
            "expires_at": iso8601(e.expires_at) if e.expires_at is not None else None,
            "expires_in": round(e.expires_in) if e.expires_in is not None else None,
            "encrypted": e.encrypted,
            "location": e.location,
            "detail": e.detail,
        }
        for e in entries
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("PROFILE", "BACKEND", "STATE", "EXPIRES IN", "ENCRYPTED", "LOCATION")
    table = [
        (
            e.profile,
            e.backend,
            e.state,
            f"{e.expires_in:.0f}s" if e.expires_in is not None else "-",
            "yes" if e.encrypted else "no",
            e.location + (f"  ({e.detail})" if e.detail else ""),
        )
        for e in entries
    ]
    widths = [max(len(str(line[i])) for line in (header, *table)) for i in range(len(header) - 1)]
    for line in (header, *table):
        print(
            "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=False)) + "  " + line[-1]
        )
    return 0
