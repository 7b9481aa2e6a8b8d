"""Only the plugins a used profile names are imported (issue 15), with validation unchanged.

A profile's schema is composed from the secret sources it writes (``{env: …}``), the cache
backend it names and, for ``auth_method: auto``, the methods it has material for; every
other installed plugin stays unimported. What a profile may write, and what a mistake
says, is what it was when every plugin was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, without_coverage
from tokenrack import ConfigError, Registry
from tokenrack.core.catalog import AUTH_METHODS, CACHES, PROVIDERS, SECRETS, PluginCatalog
from tokenrack.testing import TokenEmulator

_CHILD = """
import json, sys
import tokenrack
token = tokenrack.get_token("billing")
loaded = sorted(m for m in sys.modules if m.startswith("tokenrack.") or m in {
    "redis", "cryptography", "jwt", "subprocess", "jsonschema"})
print(json.dumps({"token": token.access_token[:8], "modules": loaded}))
"""


def _config(directory: Path, emulator: TokenEmulator, *, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "tokenrack.yaml"
    config.write_text(
        "version: 1\n"
        "profiles:\n"
        "  billing:\n"
        "    provider: generic\n"
        f"    token_url: {emulator.token_url}\n"
        f"    client_id: {CLIENT_ID}\n"
        "    client_secret: {env: SELECTION_SECRET}\n"
        "    allow_insecure_http: true\n"
        f"{extra}"
    )
    return config


def _run_child(config: Path, tmp_path: Path) -> dict[str, Any]:
    env = without_coverage()
    env.update(
        TOKENRACK_CONFIG=str(config),
        SELECTION_SECRET=SECRET,
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_another_profiles_plugins_add_no_import(emulator: TokenEmulator, tmp_path: Path) -> None:
    # Another profile of the same file names a command source, a file source, the Redis
    # backend and a private key: none of it is the used profile's, so the used profile's
    # first token imports exactly what it imports when the file holds it alone.
    other = (
        "  payroll:\n"
        "    provider: generic\n"
        "    token_url: https://idp.test/token\n"
        "    client_id: payroll\n"
        "    private_key: {command: [cat, /nonexistent.pem]}\n"
        "    cache: {backend: redis, url: 'redis://127.0.0.1:1/0', encryption_key: {file: /k}}\n"
    )
    alone = _config(tmp_path / "alone", emulator)
    shared = _config(tmp_path / "shared", emulator, extra=other)
    for _ in range(2):  # the first run validates in full, the second reads the record
        by_itself = _run_child(alone, tmp_path)
        beside = _run_child(shared, tmp_path)
        assert beside["token"].startswith(TOKEN_MARK[:8])
        assert beside["modules"] == by_itself["modules"]
        for module in ("tokenrack.secret.github_oidc", "redis", "cryptography", "jwt"):
            assert module not in beside["modules"]


def test_the_catalog_loads_only_the_used_profiles_plugins(
    emulator: TokenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELECTION_SECRET", SECRET)
    key_file = tmp_path / "secret.txt"
    key_file.write_text(SECRET)
    key_file.chmod(0o600)
    other = (
        "  payroll:\n"
        "    provider: generic\n"
        f"    token_url: {emulator.token_url}\n"
        f"    client_id: {CLIENT_ID}\n"
        f"    client_secret: {{file: {key_file}}}\n"
        "    allow_insecure_http: true\n"
        f"    cache: {{backend: file, path: {tmp_path / 'tokens'}}}\n"
    )
    catalog = PluginCatalog()
    registry = Registry.from_file(_config(tmp_path, emulator, extra=other), catalog=catalog)
    try:
        assert registry.get_token("billing").access_token.startswith(TOKEN_MARK)
        assert catalog.loaded() == {
            (PROVIDERS, "generic"),
            (AUTH_METHODS, "client_secret_basic"),
            (AUTH_METHODS, "client_secret_post"),
            (SECRETS, "env"),
        }
        # Using the second profile imports what it names, and only that.
        assert registry.get_token("payroll").access_token.startswith(TOKEN_MARK)
        assert catalog.loaded() - {(SECRETS, "env")} >= {(SECRETS, "file"), (CACHES, "file")}
        assert (SECRETS, "command") not in catalog.loaded()
        assert (CACHES, "redis") not in catalog.loaded()
    finally:
        registry.close()


def _problems(profile: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    base = {
        "provider": "generic",
        "token_url": "https://idp.test/token",
        "client_id": "c",
        "client_secret": "s",
    }
    data: dict[str, Any] = {"version": 1, "profiles": {"p": {**base, **profile}}}
    if defaults is not None:
        data["defaults"] = defaults
    try:
        registry = Registry.from_dict(data)
    except ConfigError as error:
        return str(error)
    problem = registry.problems().get("p")
    return "" if problem is None else str(problem)


def test_a_named_sources_argument_is_still_checked() -> None:
    said = _problems({"client_secret": {"env": 123}})
    assert "profiles.p.client_secret" in said


def test_an_unknown_source_is_still_refused_with_the_installed_names() -> None:
    said = _problems({"client_secret": {"vaullt": "x"}})
    assert "profiles.p.client_secret" in said
    # The names come from the entry points, without importing the sources.
    assert "env" in said and "command" in said


def test_a_named_backends_options_are_still_checked() -> None:
    said = _problems({"cache": {"backend": "file", "no_such_option": 1}})
    assert "no_such_option" in said
    said = _problems({"cache": {"backend": "redis"}})  # redis requires its url
    assert "url" in said


def test_a_misspelled_backend_lists_the_installed_ones() -> None:
    said = _problems({"cache": {"backend": "reddis", "url": "redis://127.0.0.1/0"}})
    assert "reddis" in said and "redis" in said and "file" in said


def test_a_defaults_cache_is_checked_against_its_backend() -> None:
    with pytest.raises(ConfigError, match="defaults.cache"):
        Registry.from_dict(
            {
                "version": 1,
                "defaults": {"cache": {"backend": "file", "bogus": True}},
                "profiles": {
                    "p": {
                        "provider": "generic",
                        "token_url": "https://idp.test/token",
                        "client_id": "c",
                        "client_secret": "s",
                    }
                },
            }
        )


def test_another_backends_secret_under_cache_is_never_shown() -> None:
    # ``password`` is the redis backend's secret; written under a file cache it is an
    # unknown key, and its value is not in the message (it was hidden when every backend
    # was imported, and must stay hidden now that redis is not).
    said = _problems({"cache": {"backend": "file", "password": 12345678}})
    assert "password" in said
    assert "12345678" not in said
    said = _problems({"cache": {"backend": "nosuch", "password": 87654321}})
    assert "87654321" not in said


def _auto_methods_loaded(**extra: Any) -> set[str]:
    """The auth methods a catalog imported to build one ``auto`` profile (it must load)."""
    catalog = PluginCatalog()
    profile = {
        "provider": "generic",
        "token_url": "https://idp.test/token",
        "client_id": "c",
        "client_secret": "s",
        **extra,
    }
    registry = Registry.from_dict({"version": 1, "profiles": {"p": profile}}, catalog=catalog)
    assert registry.problems() == {}
    return {name for group, name in catalog.loaded() if group == AUTH_METHODS}


def test_auto_keeps_every_supported_methods_keys() -> None:
    # A key of a method auto would not pick from this material (client_secret_jwt's
    # signing options) is still accepted, as when every method was loaded.
    assert "client_secret_jwt" in _auto_methods_loaded(assertion_lifetime=120)


def test_auto_with_only_a_secret_imports_the_secret_methods() -> None:
    assert _auto_methods_loaded() == {"client_secret_basic", "client_secret_post"}


def test_auto_without_material_says_so_as_before() -> None:
    data = {
        "version": 1,
        "profiles": {
            "p": {"provider": "generic", "token_url": "https://idp.test/token", "client_id": "c"}
        },
    }
    problem = Registry.from_dict(data).problems()["p"]
    assert "auto found no client credentials" in str(problem)
