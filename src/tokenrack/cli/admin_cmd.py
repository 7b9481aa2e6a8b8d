"""``tokenrack profiles``, ``providers``, ``check`` and ``schema``."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import TYPE_CHECKING, Any

from tokenrack.cli.common import load_registry
from tokenrack.cli.exit_codes import OK
from tokenrack.cli.output import table

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry

__all__ = ["run_check", "run_profiles", "run_providers", "run_schema"]

_STATES = {"early": "early-refresh", "mandatory": "early-refresh", "absent": "none"}
_HELD = ("fresh", "early", "mandatory", "expired")


def _cache_state(registry: Registry, name: str) -> str:
    """The state of the token this process or the shared cache holds for ``name``."""
    from tokenrack.cache_admin import list_cache_entries

    states = [entry.state for entry in list_cache_entries(registry, profile=name)]
    held = [state for state in states if state in _HELD]
    state = held[0] if held else next((s for s in states if s != "absent"), "absent")
    return _STATES.get(state, state)


def _row(registry: Registry, name: str) -> dict[str, Any]:
    config = registry.config.profile(name)
    options = config.options
    row: dict[str, Any] = {
        "name": name,
        "provider": config.provider,
        "token_url": options.get("token_url") or options.get("issuer") or "",
        "auth_method": config.auth_method,
        "scopes": list(options.get("scopes") or []),
        "audience": options.get("audience") or options.get("resource") or None,
    }
    if config.unusable is not None:
        row["error"] = str(config.unusable)
        row["cache"] = "none"
        return row
    try:
        runtime = registry.runtime(name)
        row["token_url"] = runtime.cache_key_parts.get("token_url") or row["token_url"]
        row["cache"] = _cache_state(registry, name)
    except Exception as error:  # one broken profile must not hide the others
        row["error"] = str(error)
        row["cache"] = "none"
    return row


def run_profiles(args: argparse.Namespace) -> int:
    """List profiles with provider, endpoint, auth method, scopes/audience and cache state."""
    # Loading and building every profile make hundreds of thousands of objects, none of
    # them garbage: the cyclic collector would scan them all again and again (a third of
    # the time on 10,000 profiles).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _list_profiles(args)
    finally:
        if collecting:
            gc.enable()


def _list_profiles(args: argparse.Namespace) -> int:
    registry = load_registry(args)
    if args.names:
        print("\n".join(registry.profiles()))
        return OK
    rows = [_row(registry, name) for name in registry.profiles()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return OK
    header = ("PROFILE", "PROVIDER", "AUTH METHOD", "CACHE", "SCOPES / AUDIENCE", "TOKEN URL")
    print(table(header, [_profile_cells(row) for row in rows]))
    return OK


def _profile_cells(row: dict[str, Any]) -> tuple[str, ...]:
    asked = " ".join(row["scopes"]) or (str(row["audience"]) if row["audience"] else "-")
    unusable = f"  [unusable: {_one_line(row['name'], row['error'])}]" if "error" in row else ""
    return (
        row["name"],
        row["provider"],
        row["auth_method"],
        row["cache"],
        asked,
        row["token_url"] + unusable,
    )


def _one_line(name: str, error: str) -> str:
    """An unusable profile's reason on one table line; ``--json`` keeps the whole message.

    A message listing several problems (``FILE: 3 problems:`` then one per line) becomes its
    first problem and how many more there are; any other message, its first line.
    """
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if not lines:
        return "unusable"
    first, rest = lines[0], lines[1:]
    if rest and first.endswith(" problems:"):
        more = len(rest) - 1
        first = rest[0]
        rest = rest[1:]
        if more:
            return f"{first} (and {more} more: `tokenrack check {name}` lists them)"
    if rest:
        return f"{first} (more: `tokenrack check {name}`)"
    return first


ENCRYPTION_EXTRA = "tokenrack[encryption]"
"""What a cache's ``encryption_key`` needs installed."""


def _missing_extra(plugin: Any) -> str | None:
    """The optional extra a loaded plugin declares (``requires_extra``) when it is missing."""
    from tokenrack.util.extras import extra_installed

    extra = getattr(plugin, "requires_extra", None)
    if isinstance(extra, str) and extra and not extra_installed(extra):
        return extra
    return None


def _plugin_rows() -> list[dict[str, Any]]:
    """Every installed plugin of every group, loaded once to learn whether it works.

    A plugin that loads but declares an optional extra that is not installed is
    ``unusable`` (``needs`` names the extra); a cache backend also says whether its
    records can be encrypted here (``encryption``).
    """
    from tokenrack.core.catalog import CACHES, GROUPS, PluginCatalog
    from tokenrack.errors import PluginError
    from tokenrack.util.extras import extra_installed

    catalog = PluginCatalog()
    encryption = "ok" if extra_installed(ENCRYPTION_EXTRA) else f"needs {ENCRYPTION_EXTRA}"
    rows = []
    for group in GROUPS:
        for plugin in catalog.installed(group):
            needs = None
            try:
                needs = _missing_extra(catalog.load(group, plugin.name))
                status = f"unusable: needs {needs} (pip install '{needs}')" if needs else "ok"
            except PluginError as error:
                status = f"failed: {error}"
            row = {
                "group": group,
                "name": plugin.name,
                "distribution": plugin.distribution,
                "version": plugin.version,
                "target": plugin.value,
                "status": status,
                "needs": needs,
            }
            if group == CACHES and plugin.name != "memory":
                row["encryption"] = encryption
            rows.append(row)
    return rows


def _render_plugins(rows: list[dict[str, Any]]) -> None:
    """Print the plugins group by group, then how many cannot be used."""
    from tokenrack.core.catalog import GROUPS

    for group in GROUPS:
        print(f"{group}:")
        members = [r for r in rows if r["group"] == group]
        if not members:
            print("  (none installed)")
        for r in members:
            status = r["status"]
            if r.get("encryption", "ok") != "ok":
                status += f" (encryption_key {r['encryption']})"
            print(f"  {r['name']:<30} {r['distribution'] or '?'} {r['version'] or '?'}  {status}")
    failed = [r for r in rows if r["status"].startswith("failed")]
    unusable = [r for r in rows if r["status"].startswith("unusable")]
    if failed:
        print(f"\n{len(failed)} plugin(s) failed to load; profiles using them will fail.")
    if unusable:
        print(
            f"\n{len(unusable)} plugin(s) need an extra that is not installed; "
            "profiles using them will fail (or, for a cache, run without it)."
        )


def run_providers(args: argparse.Namespace) -> int:
    """Every installed plugin, its distribution and version, and every failure's reason."""
    rows = _plugin_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _render_plugins(rows)
    return OK


def run_check(args: argparse.Namespace) -> int:
    """``tokenrack check``: see :mod:`tokenrack.cli.check_cmd`."""
    from tokenrack.cli.check_cmd import run_check as check

    return check(args)


def run_schema(args: argparse.Namespace) -> int:
    """Print the composed JSON Schema of a config file."""
    from tokenrack.cli.schema_cmd import composed_schema, render

    sys.stdout.write(render(composed_schema()))
    return OK
