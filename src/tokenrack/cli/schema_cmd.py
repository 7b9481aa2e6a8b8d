"""The composed JSON Schema of a whole config file, from the plugins installed here.

``python -m tokenrack.cli.schema_cmd`` prints it; ``config/tokenrack.schema.json`` keeps a
copy for editors (a test checks that copy is current).
"""

from __future__ import annotations

import copy
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenrack.core.catalog import PluginCatalog

__all__ = ["composed_schema", "main"]


def composed_schema(catalog: PluginCatalog | None = None) -> dict[str, Any]:
    """The config file schema: the core's, each provider's, auth method's and cache's keys.

    Plugins that fail to load are left out (``tokenrack providers`` reports them).
    """
    from tokenrack.agent.settings import AGENT_SCHEMA
    from tokenrack.config.schema import document_schema
    from tokenrack.core.catalog import AUTH_METHODS, PROVIDERS, PluginCatalog
    from tokenrack.errors import PluginError

    catalog = catalog or PluginCatalog()
    providers = {}
    for name in catalog.names(PROVIDERS):
        try:
            providers[name] = catalog.provider(name).options_schema
        except PluginError:
            continue
    auth_properties = []
    for name in catalog.names(AUTH_METHODS):
        try:
            auth_properties.append(catalog.auth_method(name).options_schema)
        except PluginError:
            continue
    schema = document_schema(
        providers=providers,
        auth_method_properties=auth_properties,
        sources=catalog.secret_source_schemas(),
        caches=catalog.cache_schemas(),
    )
    schema["properties"]["agent"] = copy.deepcopy(dict(AGENT_SCHEMA))
    return schema


def render(schema: dict[str, Any]) -> str:
    """The schema as the exported file holds it."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Print the composed schema."""
    sys.stdout.write(render(composed_schema()))


if __name__ == "__main__":
    main()
