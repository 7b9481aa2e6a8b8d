"""Plugins through real entry points: lazy loading, broken plugins, conflicts, name checks.

Each test installs small distributions (a package and its ``.dist-info`` with
``entry_points.txt``) into a temporary directory put on ``sys.path``, so importlib.metadata
and stevedore find them exactly as they find pip-installed ones.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import profile
from tokenrack.core.catalog import PROVIDERS, PluginCatalog
from tokenrack.core.registry import Registry
from tokenrack.errors import PluginError, PluginLoadError, ProviderNotFoundError
from tokenrack.testing import TokenEmulator

Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    installed: list[str] = []

    def add(dist: str, module: str, source: str, entry_points: dict[str, str]) -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = [f"[{PROVIDERS}]"] + [f"{name} = {target}" for name, target in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        installed.append(module)

    yield add
    for module in installed:
        sys.modules.pop(module, None)


GOOD_PROVIDER = """
from tokenrack.plugin import Provider

class AcmeProvider(Provider):
    name = "acme"
    options_schema = {
        "type": "object",
        "required": ["tenant", "client_id"],
        "properties": {"tenant": {"type": "string"}},
    }
    default_auth_method = "client_secret_post"

    def token_url(self):
        return self.options.get("token_url") or f"https://{self.options['tenant']}.acme.example/token"

    def extra_parameters(self):
        return [("tenant", self.options["tenant"])]
"""


def test_third_party_provider_gets_a_token(install: Install, emulator: TokenEmulator) -> None:
    install(
        "tokenrack-acme", "tokenrack_acme", GOOD_PROVIDER, {"acme": "tokenrack_acme:AcmeProvider"}
    )
    base = profile(emulator)
    base.update(provider="acme", tenant="t1")
    registry = Registry.from_dict({"version": 1, "profiles": {"a": base}})
    token = registry.get_token("a")
    assert token.access_token in emulator.issued_tokens
    sent = emulator.requests[0]
    assert sent.auth_method == "client_secret_post"
    assert sent.form_value("tenant") == "t1"


def test_third_party_schema_rejects_typos(install: Install) -> None:
    install(
        "tokenrack-acme", "tokenrack_acme", GOOD_PROVIDER, {"acme": "tokenrack_acme:AcmeProvider"}
    )
    from tokenrack.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "a": {
                        "provider": "acme",
                        "tenantt": "t",
                        "client_id": "c",
                        "client_secret": "s",
                    }
                },
            }
        )
    message = str(caught.value)
    assert "profiles.a.tenantt: unknown key (did you mean 'tenant'?)" in message
    assert "profiles.a.tenant: required, but missing" in message


def test_broken_plugin_is_reported_and_isolated(install: Install, emulator: TokenEmulator) -> None:
    install(
        "tokenrack-broken",
        "tokenrack_broken",
        "raise ImportError('boom: missing dependency')\n",
        {"broken": "tokenrack_broken:Provider"},
    )
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "vendor": {"provider": "broken", "client_id": "x"},
                "ok": profile(emulator),
            },
        }
    )
    # The profile that does not use the broken plugin works.
    assert registry.get_token("ok").access_token in emulator.issued_tokens
    with pytest.raises(PluginLoadError) as caught:
        registry.get_token("vendor")
    error = caught.value
    assert error.name == "broken" and error.group == PROVIDERS
    assert error.distribution == "tokenrack-broken"
    message = str(error)
    assert "'broken'" in message and "tokenrack-broken" in message and "boom" in message


def test_only_the_named_plugin_is_imported(install: Install, emulator: TokenEmulator) -> None:
    install(
        "tokenrack-sideeffect",
        "tokenrack_sideeffect",
        "raise RuntimeError('must not be imported')\n",
        {"sideeffect": "tokenrack_sideeffect:Provider"},
    )
    registry = Registry.from_dict({"version": 1, "profiles": {"ok": profile(emulator)}})
    registry.get_token("ok")
    assert "tokenrack_sideeffect" not in sys.modules
    assert "sideeffect" in PluginCatalog().names(PROVIDERS)


def test_two_distributions_claiming_one_name(install: Install) -> None:
    install("tokenrack-one", "tokenrack_one", GOOD_PROVIDER, {"acme": "tokenrack_one:AcmeProvider"})
    install("tokenrack-two", "tokenrack_two", GOOD_PROVIDER, {"acme": "tokenrack_two:AcmeProvider"})
    with pytest.raises(PluginError) as caught:
        PluginCatalog().provider("acme")
    message = str(caught.value)
    assert "tokenrack-one" in message and "tokenrack-two" in message
    assert "tokenrack_one" not in sys.modules and "tokenrack_two" not in sys.modules


def test_class_name_must_match_entry_point(install: Install) -> None:
    install(
        "tokenrack-misnamed",
        "tokenrack_misnamed",
        GOOD_PROVIDER,
        {"acme2": "tokenrack_misnamed:AcmeProvider"},
    )
    with pytest.raises(PluginLoadError, match="whose name is 'acme', not 'acme2'") as caught:
        PluginCatalog().provider("acme2")
    assert caught.value.distribution == "tokenrack-misnamed"


def test_entry_point_must_be_a_provider_class(install: Install) -> None:
    install(
        "tokenrack-notaclass",
        "tokenrack_notaclass",
        "thing = 42\n",
        {"thing": "tokenrack_notaclass:thing"},
    )
    with pytest.raises(PluginLoadError, match="does not point to a Provider class"):
        PluginCatalog().provider("thing")


def test_failures_are_recorded_for_diagnosis(install: Install) -> None:
    install(
        "tokenrack-broken",
        "tokenrack_broken",
        "raise ImportError('boom')\n",
        {"broken": "tokenrack_broken:P"},
    )
    catalog = PluginCatalog()
    with pytest.raises(PluginLoadError):
        catalog.provider("broken")
    assert (PROVIDERS, "broken") in catalog.failures()
    with pytest.raises(PluginLoadError):  # the failure is remembered, not retried
        catalog.provider("broken")


def test_missing_provider_lists_installed() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        PluginCatalog().provider("nope")
    assert "generic" in caught.value.installed


def test_installed_listing_has_distribution_and_version() -> None:
    (generic,) = [p for p in PluginCatalog().installed(PROVIDERS) if p.name == "generic"]
    assert generic.distribution == "tokenrack"
    assert generic.version
    assert generic.value == "tokenrack.oauth.generic:GenericProvider"


def test_every_built_in_cache_backend_loads_and_keeps_the_contract() -> None:
    from tokenrack.core.catalog import CACHES

    catalog = PluginCatalog()
    assert catalog.names(CACHES) == ["file", "memory", "redis"]
    for name in catalog.names(CACHES):
        backend = catalog.cache(name)
        assert backend.name == name
        assert backend.options_schema.get("type") == "object"
        assert isinstance(backend.secret_options, frozenset)
    assert set(catalog.cache_schemas()) == {"file", "memory", "redis"}


def test_memory_backend_is_a_complete_token_cache() -> None:
    from tokenrack.cache.memory import MemoryCache

    cache = MemoryCache()
    cache.set("k", b"v", ttl=60)
    assert cache.get("k") == b"v"
    assert list(cache.entries()) == [("k", b"v")]
    lock = cache.try_lock("k", lease=60)
    assert lock is not None
    assert cache.try_lock("k", lease=60) is None
    lock.release()
    assert cache.try_lock("k", lease=60) is not None
    assert cache.delete("k") and cache.get("k") is None
    cache.set("short", b"v", ttl=-1)
    assert cache.get("short") is None
