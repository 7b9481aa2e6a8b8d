"""The vendor pack as a whole: installed as a third party, documented, demoed, emulated."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from tokenrack_providers.testing.personalities import PERSONALITIES

from tokenrack.core.catalog import PROVIDERS, PluginCatalog

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "providers" / "src" / "tokenrack_providers"
VENDORS = [
    "azure",
    "okta",
    "auth0",
    "keycloak",
    "cognito",
    "salesforce",
    "zoom",
    "ping",
    "google",
    "apigee",
]


def test_every_vendor_is_registered_by_the_pack_and_loads() -> None:
    catalog = PluginCatalog()
    installed = {p.name: p for p in catalog.installed(PROVIDERS)}
    for vendor in VENDORS:
        assert installed[vendor].distribution == "tokenrack-providers"
        assert catalog.provider(vendor).name == vendor


def test_the_pack_imports_only_the_plugin_api() -> None:
    allowed = ("tokenrack.plugin", "tokenrack_providers")
    for module in PACK.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("tokenrack", "tokenrack_providers"):
                    assert name.startswith(allowed), f"{module.name} imports {name}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_has_a_page_in_the_nav_a_personality_and_a_demo_profile(vendor: str) -> None:
    page = ROOT / "docs" / "providers" / f"{vendor}.md"
    text = page.read_text()
    assert "## Quirks" in text and "```yaml" in text and "says no" in text
    assert f"providers/{vendor}.md" in (ROOT / "mkdocs.yml").read_text()
    assert vendor in PERSONALITIES
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["profiles"]
    assert any(p.get("provider") == vendor for p in demo.values())


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_key_of_a_vendor_is_on_its_page(vendor: str) -> None:
    text = (ROOT / "docs" / "providers" / f"{vendor}.md").read_text()
    keys = PluginCatalog().provider(vendor).options_schema["properties"]
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_yaml_example_on_a_vendors_page_loads(
    vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenrack.core.registry import Registry
    from tokenrack.secret.sources import FileSecretSource

    text = (ROOT / "docs" / "providers" / f"{vendor}.md").read_text()
    for variable in re.findall(r"env: (\w+)", text):
        monkeypatch.setenv(variable, "unused")
    # A preset's variables (azure's workload_identity), named on the page.
    for variable in re.findall(r"\b(AZURE_[A-Z_]+)\b", text):
        monkeypatch.setenv(variable, "unused")
    # Building a profile reads its secrets (the cache key binds them); the pages' files
    # (/run/secrets/…) are not on this machine.
    monkeypatch.setattr(FileSecretSource, "resolve_in", lambda self, argument, context: "unused")
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        document = yaml.safe_load(block)
        registry = Registry.from_dict(document)
        for name in registry.profiles():
            assert registry.runtime(name).provider.build_token_request().url.startswith("https://")
