"""Plugins through real entry points: lazy loading, broken plugins, conflicts, name checks.

Each test installs small distributions (a package and its ``.dist-info`` with
``entry_points.txt``) into a temporary directory put on ``sys.path``, so importlib.metadata
and stevedore find them exactly as they find pip-installed ones. Every plugin kind is
installed so: providers, auth methods, cache backends and secret sources, each one working
end to end against the emulator, and a broken one of each refused with PluginLoadError.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SECRET, profile
from tokenrack.core.catalog import AUTH_METHODS, CACHES, PROVIDERS, SECRETS, PluginCatalog
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    PluginError,
    PluginLoadError,
    ProviderNotFoundError,
    SecretError,
)
from tokenrack.testing import TokenEmulator

Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    installed: list[str] = []

    def add(
        dist: str,
        module: str,
        source: str,
        entry_points: dict[str, str],
        *,
        group: str = PROVIDERS,
    ) -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = [f"[{group}]"] + [f"{name} = {target}" for name, target in entry_points.items()]
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
        ).runtime("a")
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


# -- every plugin kind from a foreign distribution ----------------------------------------

# A provider that offers the foreign auth methods below (a profile may name only methods
# its provider supports).
METHOD_PROVIDER = """
from tokenrack.plugin import Provider

class AcmeProvider(Provider):
    name = "acme"
    default_auth_method = "acme_body"
    supported_auth_methods = frozenset({"acme_body", "header_key"})
    options_schema = {"type": "object", "required": ["client_id", "token_url"]}
"""

GOOD_AUTH_METHOD = """
from tokenrack.plugin import AuthMethod, ConfigError

class AcmeBodyAuth(AuthMethod):
    name = "acme_body"
    options_schema = {"acme_tag": {"type": "string", "minLength": 1}}
    required_options = ("client_id", "client_secret", "acme_tag")

    def authenticate(self, request, client):
        if client.client_secret is None:
            raise ConfigError("acme_body needs client_secret", path="client_secret")
        return (
            request.without_form("client_id", "client_secret")
            .with_form(("client_id", client.client_id), ("client_secret", client.client_secret))
            .with_header("X-Acme-Tag", client.options["acme_tag"])
        )
"""

# The review's reproduction: a protocol-style class missing two class attributes, which
# used to surface as a bare AttributeError from Registry.from_dict.
BROKEN_AUTH_METHOD = """
class HeaderKey:
    name = "header_key"
    options_schema = {}
    secret_options = frozenset()
    requires_client_certificate = False

    def authenticate(self, request, client):
        return request
"""

GOOD_CACHE = """
STORE = {}
HELD = set()

class _Lock:
    def __init__(self, key):
        self.key = key

    def release(self):
        HELD.discard(self.key)

class DictCache:
    name = "dictcache"
    options_schema = {"type": "object", "properties": {"bucket": {"type": "string"}}}
    secret_options = frozenset()

    def __init__(self, options, *, secrets):
        self.records = STORE.setdefault(options.get("bucket", "default"), {})

    def describe(self):
        return "a dict in this process"

    def get(self, key):
        return self.records.get(key)

    def set(self, key, value, *, ttl):
        self.records[key] = value

    def delete(self, key):
        return self.records.pop(key, None) is not None

    def try_lock(self, key, *, lease):
        if key in HELD:
            return None
        HELD.add(key)
        return _Lock(key)

    def entries(self):
        return iter(list(self.records.items()))

    def close(self):
        pass
"""

# A backend without try_lock: single-flight across processes would fail at the first miss.
BROKEN_CACHE = GOOD_CACHE.replace("def try_lock", "def _try_lock").replace(
    '"dictcache"', '"lockless"'
)

GOOD_SECRET_SOURCE = f"""
from tokenrack.plugin import SecretError

VAULT = {{"billing": {SECRET!r}}}

class VaultSource:
    name = "vault"
    argument_schema = {{"type": "string", "minLength": 1}}

    def resolve(self, argument):
        try:
            return VAULT[argument]
        except KeyError:
            raise SecretError(f"no secret named {{argument}} in the vault") from None
"""

# argument_schema is a list, not a schema: the loader would build a broken config schema.
BROKEN_SECRET_SOURCE = """
class Keychain:
    name = "keychain"
    argument_schema = ["string"]

    def resolve(self, argument):
        return "never"
"""


def _config(*profiles: tuple[str, dict[str, object]]) -> dict[str, object]:
    return {"version": 1, "profiles": dict(profiles)}


def test_foreign_auth_method_gets_a_token(install: Install, emulator: TokenEmulator) -> None:
    install(
        "tokenrack-acme", "tokenrack_acme", METHOD_PROVIDER, {"acme": "tokenrack_acme:AcmeProvider"}
    )
    install(
        "tokenrack-acme-auth",
        "tokenrack_acme_auth",
        GOOD_AUTH_METHOD,
        {"acme_body": "tokenrack_acme_auth:AcmeBodyAuth"},
        group=AUTH_METHODS,
    )
    base = profile(emulator, provider="acme", acme_tag="blue")
    registry = Registry.from_dict(_config(("a", base)))
    token = registry.get_token("a")
    assert token.access_token in emulator.issued_tokens
    (sent,) = emulator.requests
    assert sent.auth_method == "client_secret_post"  # what the emulator saw on the wire
    assert sent.headers["x-acme-tag"] == "blue"


def test_foreign_auth_method_options_are_validated(
    install: Install, emulator: TokenEmulator
) -> None:
    install(
        "tokenrack-acme", "tokenrack_acme", METHOD_PROVIDER, {"acme": "tokenrack_acme:AcmeProvider"}
    )
    install(
        "tokenrack-acme-auth",
        "tokenrack_acme_auth",
        GOOD_AUTH_METHOD,
        {"acme_body": "tokenrack_acme_auth:AcmeBodyAuth"},
        group=AUTH_METHODS,
    )
    with pytest.raises(ConfigError, match=r"profiles\.a\.acme_tag"):
        Registry.from_dict(_config(("a", profile(emulator, provider="acme")))).runtime("a")


def test_broken_foreign_auth_method_is_refused_by_name(
    install: Install, emulator: TokenEmulator
) -> None:
    install(
        "tokenrack-acme", "tokenrack_acme", METHOD_PROVIDER, {"acme": "tokenrack_acme:AcmeProvider"}
    )
    install(
        "tokenrack-headerkey",
        "tokenrack_headerkey",
        BROKEN_AUTH_METHOD,
        {"header_key": "tokenrack_headerkey:HeaderKey"},
        group=AUTH_METHODS,
    )
    with pytest.raises(PluginLoadError) as caught:
        PluginCatalog().auth_method("header_key")
    error = caught.value
    assert (error.group, error.name, error.distribution) == (
        AUTH_METHODS,
        "header_key",
        "tokenrack-headerkey",
    )
    assert "required_options (a tuple of str)" in str(error)
    assert "requires_extra (a str or None)" in str(error)
    assert "AuthMethod" in str(error)  # the way to get the defaults
    # The review's reproduction (a bare AttributeError from Registry.from_dict before):
    # as with a broken provider, the config loads, the profile that names the broken
    # method raises the same PluginLoadError when used, and the other profiles work.
    config = _config(
        ("a", profile(emulator, provider="acme", auth_method="header_key")),
        ("b", profile(emulator)),
    )
    registry = Registry.from_dict(config)
    with pytest.raises(PluginLoadError) as used:
        registry.get_token("a")
    assert (used.value.name, used.value.distribution) == ("header_key", "tokenrack-headerkey")
    assert registry.get_token("b").access_token in emulator.issued_tokens
    registry.close()


def test_foreign_cache_backend_stores_the_token(install: Install, emulator: TokenEmulator) -> None:
    install(
        "tokenrack-dictcache",
        "tokenrack_dictcache",
        GOOD_CACHE,
        {"dictcache": "tokenrack_dictcache:DictCache"},
        group=CACHES,
    )
    config = _config(("a", profile(emulator, cache={"backend": "dictcache", "bucket": "b1"})))
    first = Registry.from_dict(config)
    token = first.get_token("a")
    store = sys.modules["tokenrack_dictcache"].STORE  # type: ignore[attr-defined]
    assert len(store["b1"]) == 1  # one record, under the profile's cache key
    # Another registry (another process, as far as the backend is concerned) is served
    # from the foreign backend: no second request reaches the server.
    second = Registry.from_dict(config)
    assert second.get_token("a").access_token == token.access_token
    assert emulator.request_count == 1
    first.close()
    second.close()


def test_broken_foreign_cache_backend_is_refused_by_name(install: Install) -> None:
    install(
        "tokenrack-lockless",
        "tokenrack_lockless",
        BROKEN_CACHE,
        {"lockless": "tokenrack_lockless:DictCache"},
        group=CACHES,
    )
    catalog = PluginCatalog()
    with pytest.raises(PluginLoadError) as caught:
        catalog.cache("lockless")
    error = caught.value
    assert (error.group, error.name, error.distribution) == (
        CACHES,
        "lockless",
        "tokenrack-lockless",
    )
    assert "try_lock (a method)" in str(error)
    # A config that does not name it still loads: its schema is simply left out.
    assert "lockless" not in catalog.cache_schemas()
    assert (CACHES, "lockless") in catalog.failures()


def test_foreign_secret_source_supplies_the_client_secret(
    install: Install, emulator: TokenEmulator
) -> None:
    install(
        "tokenrack-vault",
        "tokenrack_vault",
        GOOD_SECRET_SOURCE,
        {"vault": "tokenrack_vault:VaultSource"},
        group=SECRETS,
    )
    base = profile(emulator, client_secret={"vault": "billing"})
    registry = Registry.from_dict(_config(("a", base)))
    # The emulator accepts only the canary secret: a token proves the vault supplied it.
    assert registry.get_token("a").access_token in emulator.issued_tokens
    missing = profile(emulator, client_secret={"vault": "payroll"})
    with pytest.raises(SecretError, match="no secret named payroll in the vault"):
        Registry.from_dict(_config(("b", missing))).get_token("b")


def test_broken_foreign_secret_source_is_refused_by_name(
    install: Install, emulator: TokenEmulator
) -> None:
    install(
        "tokenrack-keychain",
        "tokenrack_keychain",
        BROKEN_SECRET_SOURCE,
        {"keychain": "tokenrack_keychain:Keychain"},
        group=SECRETS,
    )
    with pytest.raises(PluginLoadError) as caught:
        PluginCatalog().secret_source("keychain")
    error = caught.value
    assert (error.group, error.name, error.distribution) == (
        SECRETS,
        "keychain",
        "tokenrack-keychain",
    )
    assert "argument_schema (a mapping (a JSON Schema))" in str(error)
    # A profile that uses it fails with a SecretError that carries the reason.
    registry = Registry.from_dict(
        _config(("a", profile(emulator, client_secret={"keychain": "x"})))
    )
    with pytest.raises(SecretError, match="tokenrack-keychain"):
        registry.get_token("a")


def test_broken_foreign_provider_attribute_is_refused_by_name(install: Install) -> None:
    install(
        "tokenrack-badschema",
        "tokenrack_badschema",
        GOOD_PROVIDER.replace('"acme"', '"badschema"').replace(
            'default_auth_method = "client_secret_post"', "default_auth_method = None"
        ),
        {"badschema": "tokenrack_badschema:AcmeProvider"},
    )
    with pytest.raises(PluginLoadError, match=r"default_auth_method \(a str\)") as caught:
        PluginCatalog().provider("badschema")
    assert caught.value.distribution == "tokenrack-badschema"


def test_foreign_cache_backend_fails_with_the_plugin_apis_cache_error(
    install: Install, emulator: TokenEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # A backend reports failure by raising tokenrack.plugin.CacheError; tokenrack then
    # fetches on its own and says so, and get_token never fails for it.
    install(
        "tokenrack-dictcache",
        "tokenrack_dictcache",
        GOOD_CACHE.replace(
            "return self.records.get(key)", "raise CacheError('down', backend='dictcache')"
        ).replace("STORE = {}", "from tokenrack.plugin import CacheError\nSTORE = {}"),
        {"dictcache": "tokenrack_dictcache:DictCache"},
        group=CACHES,
    )
    registry = Registry.from_dict(_config(("a", profile(emulator, cache={"backend": "dictcache"}))))
    with caplog.at_level("WARNING", logger="tokenrack"):
        assert registry.get_token("a").access_token in emulator.issued_tokens
    assert any("dictcache" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    registry.close()
