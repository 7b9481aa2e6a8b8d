"""In-process plugins: ``plugins=`` on the registry, ``PluginCatalog.register``.

Applications and tests that ship no entry point register classes directly; they are checked
as loaded entry points are, and a name an installed entry point has is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET, profile
from tokenrack.core.catalog import AUTH_METHODS, CACHES, PROVIDERS, SECRETS, PluginCatalog
from tokenrack.core.registry import Registry
from tokenrack.errors import PluginError, PluginLoadError
from tokenrack.plugin import (
    AuthMethod,
    ClientCredentials,
    Provider,
    SecretError,
    TokenRequest,
)
from tokenrack.testing import TokenEmulator


class AcmeProvider(Provider):
    name = "acme"
    options_schema = {
        "type": "object",
        "required": ["tenant", "client_id"],
        "properties": {"tenant": {"type": "string"}},
    }
    default_auth_method = "client_secret_post"
    supported_auth_methods = frozenset({"client_secret_post", "tagged_post"})

    def extra_parameters(self) -> list[tuple[str, str]]:
        return [("tenant", str(self.options["tenant"]))]


class TaggedPost(AuthMethod):
    name = "tagged_post"
    required_options = ("client_id", "client_secret")

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        assert client.client_secret is not None
        return request.with_form(
            ("client_id", client.client_id), ("client_secret", client.client_secret)
        ).with_header("X-Tag", "in-process")


class DictSource:
    name = "dict"
    argument_schema = {"type": "string"}
    values = {"acme": SECRET}

    def resolve(self, argument: Any) -> str:
        try:
            return self.values[str(argument)]
        except KeyError:
            raise SecretError(f"no {argument}") from None


def test_registered_provider_auth_method_and_secret_source_get_a_token(
    emulator: TokenEmulator,
) -> None:
    base = profile(
        emulator,
        provider="acme",
        tenant="t1",
        auth_method="tagged_post",
        client_secret={"dict": "acme"},
    )
    registry = Registry.from_dict(
        {"version": 1, "profiles": {"a": base}},
        plugins={
            PROVIDERS: {"acme": AcmeProvider},
            AUTH_METHODS: {"tagged_post": TaggedPost},
            SECRETS: {"dict": DictSource},
        },
    )
    assert registry.get_token("a").access_token in emulator.issued_tokens
    (sent,) = emulator.requests
    assert sent.form_value("tenant") == "t1"
    assert sent.headers["x-tag"] == "in-process"


def test_from_file_takes_plugins_too(emulator: TokenEmulator, tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            profiles:
              a:
                provider: acme
                tenant: t2
                token_url: {emulator.token_url}
                client_id: canary-client
                client_secret: {{dict: acme}}
            """
        )
    )
    path.chmod(0o600)
    registry = Registry.from_file(
        path, plugins={PROVIDERS: {"acme": AcmeProvider}, SECRETS: {"dict": DictSource}}
    )
    assert registry.get_token("a").access_token in emulator.issued_tokens
    assert emulator.requests[0].form_value("tenant") == "t2"


def test_registered_cache_backend_is_used() -> None:
    from tokenrack.cache.memory import MemoryCache

    class Shared(MemoryCache):
        name = "shared-dict"

    catalog = PluginCatalog({CACHES: {"shared-dict": Shared}})
    assert catalog.cache("shared-dict") is Shared
    assert "shared-dict" in catalog.cache_schemas()
    assert "shared-dict" in catalog.names(CACHES)
    assert "shared-dict" not in [p.name for p in catalog.installed(CACHES)]


def test_a_name_an_entry_point_has_is_refused() -> None:
    class Generic(AcmeProvider):
        name = "generic"

    with pytest.raises(PluginError) as caught:
        Registry.from_dict(
            {"version": 1, "profiles": {}}, plugins={PROVIDERS: {"generic": Generic}}
        )
    message = str(caught.value)
    assert "tokenrack (tokenrack.oauth.generic:GenericProvider) already installs" in message
    assert caught.value.group == PROVIDERS and caught.value.name == "generic"
    assert not isinstance(caught.value, PluginLoadError)


def test_registering_one_name_twice_is_refused() -> None:
    catalog = PluginCatalog({PROVIDERS: {"acme": AcmeProvider}})
    with pytest.raises(PluginError, match="'acme' is already registered in-process"):
        catalog.register(PROVIDERS, "acme", AcmeProvider)


def test_an_unknown_group_is_refused() -> None:
    with pytest.raises(PluginError, match="'tokenrack.grants' is not a plugin group"):
        PluginCatalog({"tokenrack.grants": {"x": AcmeProvider}})


def test_a_registered_plugin_is_checked_as_a_loaded_one_is() -> None:
    class Half:
        name = "half"
        options_schema: dict[str, Any] = {}

        def authenticate(self, request: Any, client: Any) -> Any:
            return request

    with pytest.raises(PluginLoadError) as caught:
        Registry.from_dict({"version": 1, "profiles": {}}, plugins={AUTH_METHODS: {"half": Half}})
    error = caught.value
    assert (error.group, error.name, error.distribution) == (AUTH_METHODS, "half", None)
    assert str(error).startswith(
        "tokenrack.auth_methods plugin 'half' registered in-process points to "
    )
    assert "required_options (a tuple of str)" in str(error)


def test_a_registered_name_must_match_the_class_name() -> None:
    with pytest.raises(PluginLoadError, match="whose name is 'acme', not 'acme2'"):
        PluginCatalog({PROVIDERS: {"acme2": AcmeProvider}})


def test_registration_replaces_an_earlier_not_found() -> None:
    catalog = PluginCatalog()
    with pytest.raises(PluginError):
        catalog.provider("acme")
    catalog.register(PROVIDERS, "acme", AcmeProvider)
    assert catalog.provider("acme") is AcmeProvider
    assert (PROVIDERS, "acme") not in catalog.failures()


def test_catalogs_do_not_share_registrations() -> None:
    PluginCatalog({PROVIDERS: {"acme": AcmeProvider}})
    assert "acme" not in PluginCatalog().names(PROVIDERS)


def test_loading_a_plugin_writes_no_entry_point_cache(tmp_path: Path) -> None:
    # stevedore keeps an entry-point cache under $XDG_CACHE_HOME/python-entrypoints when it
    # scans a group itself; the catalog hands it the one entry point, so nothing is written.
    code = (
        # stevedore skips its cache for an interpreter under /tmp (where a CI clone may
        # live): the child says it is elsewhere, so a scan by stevedore would write it.
        "import sys\n"
        "sys.executable = '/usr/local/bin/python3'\n"
        "from tokenrack.core.catalog import PluginCatalog\n"
        "catalog = PluginCatalog()\n"
        "for group, name in [('tokenrack.providers', 'generic'), "
        "('tokenrack.auth_methods', 'client_secret_basic'), ('tokenrack.caches', 'file'), "
        "('tokenrack.secrets', 'env')]:\n"
        "    catalog.load(group, name)\n"
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert not (cache / "python-entrypoints").exists()
