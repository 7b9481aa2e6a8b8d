"""The docs keep up with the code: every config key is documented."""

from __future__ import annotations

from pathlib import Path

from tokenrack.config.schema import DEFAULTS_KEYS, core_profile_properties
from tokenrack.core.catalog import AUTH_METHODS, PluginCatalog
from tokenrack.oauth.generic import GenericProvider

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_configuration_reference_names_every_key() -> None:
    text = (DOCS / "configuration.md").read_text()
    keys = set(core_profile_properties({})) | set(GenericProvider.options_schema["properties"])
    catalog = PluginCatalog()
    for name in catalog.names(AUTH_METHODS):
        keys |= set(catalog.auth_method(name).options_schema)
    keys |= set(DEFAULTS_KEYS) | {"version", "defaults", "profiles"}
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert missing == []


def test_every_secret_source_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name in PluginCatalog().names("tokenrack.secrets"):
        assert f"{{{name}:" in text


def test_every_cache_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    keys = {"backend", "encryption_key", "lock_lease"}
    for schema, secrets in PluginCatalog().cache_schemas().values():
        keys |= set(schema.get("properties", {})) | set(secrets)
    missing = sorted(k for k in keys if f"| `{k}` |" not in text)
    assert missing == []
    fleet = (DOCS / "fleet.md").read_text()
    assert "bearer credential" in fleet
    assert "encryption_key" in fleet
