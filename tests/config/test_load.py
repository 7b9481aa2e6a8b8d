"""Loading configs: discovery, defaults, extends, interpolation, secrets, validation messages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tokenrack.config.discover import discover_config_path
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    PluginError,
    ProfileNotFoundError,
    ProviderNotFoundError,
    SecretError,
)
from tokenrack.secret.value import Secret, SecretRef


def write(tmp_path: Path, text: str, name: str = "tokenrack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """
version: 1
profiles:
  billing:
    provider: generic
    token_url: https://idp.example/oauth/token
    client_id: abc
    client_secret: {env: BILLING_SECRET}
    scopes: [read]
"""


def load(data: dict[str, Any]) -> Registry:
    return Registry.from_dict({"version": 1, **data})


def use(data: dict[str, Any], name: str = "a") -> None:
    """Load, then use profile ``name``: where a profile's own problems are raised."""
    load(data).runtime(name)


def options(registry: Registry, name: str) -> dict[str, Any]:
    # The loaded profile: building its runtime reads its secrets (its cache key binds them).
    return dict(registry.config.profile(name).options)


def generic(**extra: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": "https://idp.example/t",
        "client_id": "abc",
        "client_secret": "s",
        **extra,
    }


# -- discovery ---------------------------------------------------------------------------


def test_discovery_order(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    xdg = tmp_path / "xdg"
    (cwd).mkdir()
    (xdg / "tokenrack").mkdir(parents=True)
    explicit = write(tmp_path, BASE, "explicit.yaml")
    local = write(cwd, BASE)
    xdg_file = write(xdg / "tokenrack", BASE, "config.yaml")
    env = {"TOKENRACK_CONFIG": str(explicit), "XDG_CONFIG_HOME": str(xdg)}
    assert discover_config_path(env, cwd) == explicit
    del env["TOKENRACK_CONFIG"]
    assert discover_config_path(env, cwd) == local
    local.unlink()
    assert discover_config_path(env, cwd) == xdg_file


def test_discovery_falls_back_to_etc_and_says_where_it_looked(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    if Path("/etc/tokenrack/config.yaml").exists():  # pragma: no cover - machine-specific
        assert discover_config_path(env, tmp_path) == Path("/etc/tokenrack/config.yaml")
        return
    with pytest.raises(ConfigError) as caught:
        discover_config_path(env, tmp_path)
    message = str(caught.value)
    assert "TOKENRACK_CONFIG" in message and "/etc/tokenrack/config.yaml" in message
    assert str(tmp_path / "tokenrack.yaml") in message


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file"):
        discover_config_path({"TOKENRACK_CONFIG": str(tmp_path / "missing.yaml")}, tmp_path)


def test_from_file_uses_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKENRACK_CONFIG", raising=False)
    write(tmp_path, BASE)
    assert Registry.from_file().profiles() == ["billing"]


# -- structure ---------------------------------------------------------------------------


def test_broken_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nprofiles:\n  a: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path)
    assert str(caught.value).startswith(f"{path}: line ")
    assert "column" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "got an empty file"),
        ("- a\n- b\n", "got list"),
        ("profiles: {}\n", "version: required, but missing"),
        (
            "version: 2\nprofiles: {}\n",
            "version: expected 1 (the only config version so far), got 2",
        ),
        ("version: 1\nprofile: {}\n", "profile: unknown key (did you mean 'profiles'?)"),
        ("version: 1\nprofiles: {a: 3}\n", "profiles.a: expected a mapping, got 3"),
    ],
)
def test_top_level_problems(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_the_issue_example_message(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("scopes: [read]", "scopes: read"))
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path).get_token("billing")
    assert str(caught.value) == (
        f"{path}: profiles.billing.scopes: expected a list of strings, got 'read' "
        "[line 9, column 5]"
    )
    assert caught.value.profile == "billing"
    assert caught.value.path == "profiles.billing.scopes"
    assert caught.value.file == str(path)


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": generic(scoeps=["x"])}})
    assert "profiles.a.scoeps: unknown key (did you mean 'scopes'?)" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    registry = load(
        {
            "profiles": {
                "a": generic(timeout={"read": -1}),
                "b": generic(retries={"attempts": "many"}, default_ttl=0),
            }
        }
    )
    found = registry.problems()
    assert list(found) == ["a", "b"]
    assert str(found["a"]) == (
        "<dict>: profiles.a.timeout.read: expected a number greater than 0, got -1"
    )
    message = str(found["b"])
    assert "2 problems" in message
    assert "profiles.b.retries.attempts: expected an integer from 1 to 20, got 'many'" in message
    assert "profiles.b.default_ttl: expected a number greater than 0, got 0" in message


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": {"provider": "generic", "client_secret": "s"}}})
    message = str(caught.value)
    assert "profiles.a: needs one of token_url, issuer, but has none" in message
    assert "profiles.a.client_id: required, but missing" in message


def test_missing_provider_is_named() -> None:
    with pytest.raises(ConfigError, match="profiles.a.provider: required, but missing"):
        use({"profiles": {"a": {"client_id": "x"}}})


def test_secret_values_are_never_quoted_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": generic(client_secret=987654321)}})
    message = str(caught.value)
    assert "987654321" not in message
    assert "profiles.a.client_secret: expected a non-empty string or a mapping" in message
    assert "value hidden" in message


def test_bad_secret_reference_names_the_sources() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": generic(client_secret={"vault": "x"})}})
    message = str(caught.value)
    assert (
        "profiles.a.client_secret.vault: unknown key (allowed here: command, env, file, github_oidc)"
        in message
    )


def test_insecure_http_refused_unless_loopback_or_allowed() -> None:
    with pytest.raises(
        ConfigError, match="profiles.a.token_url: refusing to send credentials over plain http"
    ):
        use({"profiles": {"a": generic(token_url="http://idp.example/t")}})
    load({"profiles": {"a": generic(token_url="http://127.0.0.1:9/t")}})
    load({"profiles": {"a": generic(token_url="http://localhost/t")}})
    load({"profiles": {"a": generic(token_url="http://idp.example/t", allow_insecure_http=True)}})


def test_token_url_must_be_http_or_https() -> None:
    with pytest.raises(ConfigError, match="profiles.a.token_url: expected an http"):
        use({"profiles": {"a": generic(token_url="ftp://idp.example/t")}})


# -- defaults and extends ----------------------------------------------------------------


def test_defaults_merge_under_profiles_and_profile_wins() -> None:
    registry = load(
        {
            "defaults": {
                "timeout": {"connect": 2, "read": 20},
                "retries": {"attempts": 2},
                "default_ttl": 60,
            },
            "profiles": {"a": generic(timeout={"read": 30}, default_ttl=90)},
        }
    )
    opts = options(registry, "a")
    assert opts["timeout"] == {"connect": 2, "read": 30}
    assert opts["retries"] == {"attempts": 2}
    assert opts["default_ttl"] == 90
    runtime = registry.runtime("a")
    assert (runtime.transport_options.connect_timeout, runtime.transport_options.read_timeout) == (
        2,
        30,
    )
    assert runtime.retry_policy.attempts == 2


def test_defaults_accept_only_shared_settings() -> None:
    with pytest.raises(ConfigError, match="defaults.client_id: unknown key"):
        use({"defaults": {"client_id": "x"}, "profiles": {"a": generic()}})


def test_problem_in_defaults_says_where_it_was_set() -> None:
    with pytest.raises(ConfigError) as caught:
        use(
            {
                "defaults": {"default_ttl": 60},
                "profiles": {"a": generic(extends=None) | {"timeout": {"read": 0}}},
            }
        )
    assert "profiles.a" in str(caught.value)


def test_extends_inherits_then_overrides() -> None:
    registry = load(
        {
            "profiles": {
                "billing": generic(scopes=["read"], audience="https://api"),
                "billing-write": {"extends": "billing", "scopes": ["write"]},
            }
        }
    )
    child = options(registry, "billing-write")
    assert child["scopes"] == ["write"]
    assert child["audience"] == "https://api"
    assert child["client_id"] == "abc"
    assert "extends" not in child
    assert registry.runtime("billing-write").config.origins["audience"] == "profiles.billing"


def test_inherited_problem_names_its_origin() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"base": generic(scopes="x"), "child": {"extends": "base"}}}, "child")
    assert (
        "profiles.child.scopes: expected a list of strings, got 'x' (set in profiles.base)"
        in str(caught.value)
    )


def test_extends_cycle_is_detected() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": {"extends": "b"}, "b": {"extends": "c"}, "c": {"extends": "a"}}})
    assert "extends forms a cycle: a -> b -> c -> a" in str(caught.value)


def test_extends_unknown_profile_suggests() -> None:
    with pytest.raises(
        ConfigError,
        match="profiles.child.extends: no profile named 'biling' \\(did you mean 'billing'\\?\\)",
    ):
        use({"profiles": {"billing": generic(), "child": {"extends": "biling"}}}, "child")


# -- interpolation and secrets -----------------------------------------------------------


def test_env_interpolation_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_HOST", "login.example")
    registry = load(
        {
            "profiles": {
                "a": generic(
                    token_url="https://${IDP_HOST}/t", audience="${AUDIENCE:-https://api.example}"
                )
            }
        }
    )
    opts = options(registry, "a")
    assert opts["token_url"] == "https://login.example/t"
    assert opts["audience"] == "https://api.example"


def test_missing_variable_in_a_setting_fails_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDP_HOST", raising=False)
    with pytest.raises(
        ConfigError, match=r"profiles.a.token_url: environment variable IDP_HOST is not set"
    ):
        use({"profiles": {"a": generic(token_url="https://${IDP_HOST}/t")}})


def test_secrets_are_resolved_lazily(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    registry = load(
        {
            "profiles": {
                "env": generic(client_secret={"env": "NOT_SET_ANYWHERE"}),
                "templ": generic(client_secret="${NOT_SET_ANYWHERE}"),
                "file": generic(client_secret={"file": str(secret_file)}),
                "inline": generic(client_secret="inline-value"),
            }
        }
    )
    # Loading succeeded although two secrets are missing: nothing was read yet.
    assert options(registry, "env")["client_secret"] == SecretRef("env", "NOT_SET_ANYWHERE")
    assert options(registry, "templ")["client_secret"] == SecretRef(
        "template", "${NOT_SET_ANYWHERE}"
    )
    assert registry.runtime("file").secrets()["client_secret"].reveal() == "from-file"
    assert registry.runtime("inline").secrets()["client_secret"] == Secret("inline-value")
    with pytest.raises(SecretError) as caught:
        registry.runtime("env").secrets()
    error = caught.value
    assert error.profile == "env" and error.path == "profiles.env.client_secret"
    assert "environment variable NOT_SET_ANYWHERE is not set" in str(error)
    with pytest.raises(
        SecretError, match="profiles.templ.client_secret: environment variable NOT_SET_ANYWHERE"
    ):
        registry.runtime("templ").secrets()


def test_secret_file_errors_name_the_file(tmp_path: Path) -> None:
    registry = load({"profiles": {"a": generic(client_secret={"file": str(tmp_path / "nope")})}})
    with pytest.raises(SecretError, match=r"cannot read secret file .*nope: No such file"):
        registry.runtime("a").secrets()


def test_secret_command_runs_without_a_shell(tmp_path: Path) -> None:
    registry = load(
        {
            "profiles": {
                "ok": generic(client_secret={"command": ["printf", "cmd-secret\\n"]}),
                "fails": generic(
                    client_secret={
                        "command": ["sh", "-c", "echo half-out; echo oops half-out >&2; exit 3"]
                    }
                ),
                "missing": generic(client_secret={"command": [str(tmp_path / "no-such-program")]}),
            }
        }
    )
    assert registry.runtime("ok").secrets()["client_secret"].reveal() == "cmd-secret"
    with pytest.raises(SecretError, match="exited with status 3") as caught:
        registry.runtime("fails").secrets()
    # stderr is shown for the diagnosis, with what the command printed scrubbed from it.
    assert "stderr: oops ***" in str(caught.value)
    assert "half-out" not in str(caught.value)
    with pytest.raises(SecretError, match="was not found"):
        registry.runtime("missing").secrets()


def test_secret_file_path_is_interpolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "s").write_text("v")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    registry = load({"profiles": {"a": generic(client_secret={"file": "${SECRETS_DIR}/s"})}})
    assert registry.runtime("a").secrets()["client_secret"].reveal() == "v"


# -- providers, auth methods, profiles ---------------------------------------------------


def test_unknown_provider_is_deferred_to_first_use_and_lists_installed() -> None:
    registry = load(
        {"profiles": {"vendor": {"provider": "no-such-vendor", "client_id": "x"}, "ok": generic()}}
    )
    assert registry.runtime("ok") is not None
    with pytest.raises(ProviderNotFoundError) as caught:
        registry.get_token("vendor")
    assert "no-such-vendor" in str(caught.value)
    assert "generic" in caught.value.installed
    assert isinstance(caught.value, PluginError)


def test_auth_method_must_be_supported_by_the_provider() -> None:
    with pytest.raises(ConfigError) as caught:
        use({"profiles": {"a": generic(auth_method="private_key_jwt_typo")}})
    assert (
        "profiles.a.auth_method: provider 'generic' does not support 'private_key_jwt_typo'"
        in str(caught.value)
    )


def test_basic_encoding_only_valid_values() -> None:
    with pytest.raises(
        ConfigError,
        match="profiles.a.basic_encoding: expected one of 'rfc6749', 'raw', got 'base64'",
    ):
        use({"profiles": {"a": generic(basic_encoding="base64")}})


def test_profile_not_found_lists_known_closest_first() -> None:
    registry = load(
        {"profiles": {"billing": generic(), "reporting": generic(), "billing-write": generic()}}
    )
    with pytest.raises(ProfileNotFoundError) as caught:
        registry.get_token("biling")
    error = caught.value
    assert error.known[0] == "billing"
    assert error.suggestion == "billing"
    assert set(error.known) == {"billing", "reporting", "billing-write"}
    assert "did you mean 'billing'?" in str(error)
    with pytest.raises(ProfileNotFoundError) as unrelated:
        registry.get_token("zzz")
    assert unrelated.value.suggestion is None


def test_profiles_keep_file_order(tmp_path: Path) -> None:
    text = "version: 1\nprofiles:\n" + "".join(
        f"  {name}:\n    provider: generic\n    token_url: https://x/t\n    client_id: c\n    client_secret: s\n"
        for name in ("zeta", "alpha", "mid")
    )
    assert Registry.from_file(write(tmp_path, text)).profiles() == ["zeta", "alpha", "mid"]


def test_yaml_is_read_with_safe_load(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nprofiles: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        Registry.from_file(path)


def test_env_var_names_never_needed_for_unused_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNUSED_"):
            monkeypatch.delenv(name)
    registry = load(
        {"profiles": {"unused": generic(client_secret={"env": "UNUSED_SECRET"}), "used": generic()}}
    )
    assert registry.runtime("used").secrets()["client_secret"].reveal() == "s"
