"""``tokenrack cache list | purge [PROFILE]``: cached tokens, described, never shown."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from tokenrack.cli.common import load_registry
from tokenrack.cli.exit_codes import CACHE_OR_SECRET, OK
from tokenrack.cli.output import iso8601, table

if TYPE_CHECKING:
    from tokenrack.cache_admin import CacheEntry
    from tokenrack.core.registry import Registry

__all__ = ["UNUSABLE", "run_cache"]

UNUSABLE = "unusable"
"""The state shown for a profile that cannot be built (its provider is not installed, …)."""


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


def _entries(args: argparse.Namespace, registry: Registry) -> list[CacheEntry]:
    """The entries of every profile (or one); a profile that cannot be built is one entry.

    A profile whose provider or auth method is missing is listed ``unusable`` (its cache key
    cannot be known) instead of failing the listing of every other profile.
    """
    from tokenrack.cache_admin import CacheEntry, list_cache_entries
    from tokenrack.errors import ProfileNotFoundError, TokenrackError

    names = [args.profile] if args.profile else registry.profiles()
    entries: list[CacheEntry] = []
    for name in names:
        try:
            entries.extend(list_cache_entries(registry, profile=name))
        except ProfileNotFoundError:
            raise
        except TokenrackError as error:
            entries.append(CacheEntry(name, "-", "-", UNUSABLE, detail=str(error)))
    return entries


def _list(args: argparse.Namespace, registry: Registry) -> int:
    """Describe the cache entries of every profile (or one), as JSON or a table.

    Returns:
        0, or 5 when a profile's cache (or a secret its cache key needs) is unavailable:
        what is listed is then not all there is.
    """
    entries = _entries(args, registry)
    if args.json:
        print(json.dumps([_document(e) for e in entries], indent=2))
    else:
        header = ("PROFILE", "BACKEND", "STATE", "EXPIRES IN", "ENCRYPTED", "LOCATION")
        print(table(header, [_cells(e) for e in entries]))
    unavailable = sorted({e.profile for e in entries if e.state == "unavailable"})
    if unavailable:
        print(
            f"tokenrack: the cache of {', '.join(unavailable)} is unavailable (see LOCATION); "
            "`tokenrack check` says what to fix",
            file=sys.stderr,
        )
        return CACHE_OR_SECRET
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
        0, or 5 when a cache was unavailable (``list``) or a purge failed for some profile.
    """
    registry = load_registry(args)
    return _purge(args, registry) if args.action == "purge" else _list(args, registry)
