"""``tokenrack cache list | purge [PROFILE]``: cached tokens, described, never shown."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tokenrack.cli.common import load_registry
from tokenrack.cli.exit_codes import CACHE_OR_SECRET, OK
from tokenrack.cli.output import iso8601, table

if TYPE_CHECKING:
    from tokenrack.cache_admin import CacheEntry
    from tokenrack.core.registry import Registry

__all__ = ["run_cache"]


def _purge(args: argparse.Namespace, registry: Registry) -> int:
    """Delete the shared records of every profile (or one); say what happened to each."""
    from tokenrack.cache_admin import purge_cache

    result = purge_cache(registry, profile=args.profile)
    for profile in result.shared:
        print(f"{profile}: shared record deleted")
    for profile, reason in dict(result.failed).items():
        print(f"{profile}: could not purge: {reason}")
    if not result.shared and not result.failed:
        print("nothing cached to purge")
    return CACHE_OR_SECRET if result.failed else OK


def _list(args: argparse.Namespace, registry: Registry) -> int:
    """Describe the cache entries of every profile (or one), as JSON or a table."""
    from tokenrack.cache_admin import list_cache_entries

    entries = list_cache_entries(registry, profile=args.profile)
    if args.json:
        print(json.dumps([_document(e) for e in entries], indent=2))
        return OK
    header = ("PROFILE", "BACKEND", "STATE", "EXPIRES IN", "ENCRYPTED", "LOCATION")
    print(table(header, [_cells(e) for e in entries]))
    return OK


def _document(entry: CacheEntry) -> dict[str, Any]:
    return {
        "profile": entry.profile,
        "backend": entry.backend,
        "state": entry.state,
        "expires_at": iso8601(entry.expires_at) if entry.expires_at is not None else None,
        "expires_in": round(entry.expires_in) if entry.expires_in is not None else None,
        "encrypted": entry.encrypted,
        "location": entry.location,
        "detail": entry.detail,
    }


def _cells(entry: CacheEntry) -> tuple[str, ...]:
    return (
        entry.profile,
        entry.backend,
        entry.state,
        f"{entry.expires_in:.0f}s" if entry.expires_in is not None else "-",
        "yes" if entry.encrypted else "no",
        entry.location + (f"  ({entry.detail})" if entry.detail else ""),
    )


def run_cache(args: argparse.Namespace) -> int:
    """List the cache entries of every profile (or one), or purge them.

    Returns:
        0, or 5 when a purge failed for some profile.
    """
    registry = load_registry(args)
    return _purge(args, registry) if args.action == "purge" else _list(args, registry)
