"""Profiles isolated from each other's mistakes; file-level problems; environ=; default_profile."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, PluginError, ProviderNotFoundError
from tokenrack.testing import TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


def broken_payrolls(emulator: TokenEmulator) -> dict[str, dict[str, Any]]:
    """One way for payroll to be broken per case, each scoped to payroll alone."""
    good = profile(emulator)
    return {
        "unset variable": {**good, "token_url": "${PAYROLL_IDP_URL}/oauth/token"},
        "unset variable in a list": {**good, "scopes": ["${PAYROLL_SCOPE}"]},
        "schema error": {**good, "scoeps": ["read"]},
        "unknown provider": {**good, "provider": "okat"},
        "unsupported auth method": {**good, "auth_method": "client_secret_basc"},
        "missing extends parent": {"extends": "nothere"},
        "missing key material": {**good, "auth_method": "private_key_jwt"},
    }


CASES = [
    "unset variable",
    "unset variable in a list",
    "schema error",
    "unknown provider",
    "unsupported auth method",
    "missing extends parent",
    "missing key material",
]


@pytest.mark.parametrize("case", CASES)
def test_billing_works_while_payroll_is_broken(emulator: TokenEmulator, case: str) -> None:
    payroll = broken_payrolls(emulator)[case]
    data = {"version": 1, "profiles": {"billing": profile(emulator), "payroll": payroll}}
    with Registry.from_dict(data, environ={}) as registry:
        assert registry.profiles() == ["billing", "payroll"]
        assert registry.get_token("billing").access_token.startswith(TOKEN_MARK)
        assert list(registry.problems()) == ["payroll"]
        with pytest.raises((ConfigError, PluginError)) as caught:
            registry.get_token("payroll")
        assert caught.value is registry.problems()["payroll"]
        assert "payroll" in str(caught.value)
        with pytest.raises(type(caught.value)):
            registry.runtime("payroll")  # raised again, the same way, at every use
    assert len(emulator.issued_tokens) == 1


def test_the_profiles_own_error_names_file_profile_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(
        "version: 1\n"
        "profiles:\n"
        "  billing:\n"
        "    provider: generic\n"
        "    token_url: https://idp.example/t\n"
        "    client_id: abc\n"
        "    client_secret: s\n"
        "  payroll:\n"
        "    provider: generic\n"
        "    token_url: ${PAYROLL_IDP_URL}/oauth/token\n"
        "    client_id: abc\n"
        "    client_secret: s\n"
    )
    with Registry.from_file(path, environ={}) as registry:
        error = registry.problems()["payroll"]
    assert isinstance(error, ConfigError)
    assert (error.file, error.profile, error.path) == (
        str(path),
        "payroll",
        "profiles.payroll.token_url",
    )
    # Said once: not again as "expected an http(s) URL, got '${PAYROLL_IDP_URL}/…'".
    assert str(error) == (
        f"{path}: profiles.payroll.token_url: environment variable PAYROLL_IDP_URL is not set "
        "(set it, or write ${PAYROLL_IDP_URL:-default} to give a default) [line 10, column 5]"
    )


def test_a_missing_jwt_extra_stops_only_its_profile() -> None:
    code = (
        "import sys; sys.modules['jwt'] = None\n"
        "from tokenrack import Registry, ConfigError\n"
        "registry = Registry.from_dict({'version': 1, 'profiles': {\n"
        "    'jwt': {'provider': 'generic', 'token_url': 'https://idp.test/t',\n"
        "            'client_id': 'c', 'private_key': '/k.pem', 'auth_method': 'private_key_jwt'},\n"
        "    'billing': {'provider': 'generic', 'token_url': 'https://idp.test/t',\n"
        "                'client_id': 'c', 'client_secret': 's'}}})\n"
        "print(registry.profiles())\n"
        "print(registry.runtime('billing').name)\n"
        "try:\n"
        "    registry.runtime('jwt')\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[:2] == ["['jwt', 'billing']", "billing"]
    assert (
        "profiles.jwt.auth_method: private_key_jwt needs the tokenrack[jwt] extra: "
        "pip install 'tokenrack[jwt]'" in lines[2]
    )


# -- the CLI -------------------------------------------------------------------------------


def cli(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CANARY_SECRET": SECRET, **(env or {})}
    for name in ("TOKENRACK_PROFILE", "PAYROLL_IDP_URL"):
        environment.pop(name, None)
    done = subprocess.run(
        [TOKENRACK, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert SECRET not in done.stderr and TOKEN_MARK not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize("case", ["unset variable", "schema error", "unknown provider"])
def test_the_cli_serves_billing_while_payroll_is_broken(
    tmp_path: Path, emulator: TokenEmulator, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    billing = {**profile(emulator), "client_secret": {"env": "CANARY_SECRET"}}
    payroll = {**broken_payrolls(emulator)[case], "client_secret": {"env": "CANARY_SECRET"}}
    config = tmp_path / "tokenrack.yaml"
    config.write_text(
        yaml.safe_dump({"version": 1, "profiles": {"billing": billing, "payroll": payroll}})
    )
    config.chmod(0o600)
    done = cli(config, "token", "billing")
    assert done.returncode == 0, done.stderr
    assert done.stdout == emulator.issued_tokens[0] + "\n"
    failed = cli(config, "token", "payroll")
    assert failed.returncode == 2
    assert "profiles.payroll" in failed.stderr and str(config) in failed.stderr
    assert "Traceback" not in failed.stderr
    listed = cli(config, "profiles")
    assert listed.returncode == 0
    assert "[unusable: " in listed.stdout


# -- file-level problems -------------------------------------------------------------------


def test_a_defaults_error_is_reported_with_every_profiles_problems() -> None:
    data = {
        "version": 1,
        "defaults": {"timeout": {"read": -1}},
        "profiles": {
            "billing": {
                "provider": "generic",
                "token_url": "https://idp.example/t",
                "client_id": "a",
                "client_secret": "s",
                "scoeps": ["x"],
            },
            "reporting": {
                "provider": "generic",
                "token_url": "https://idp.example/t",
                "auth_method": "none",
            },
        },
    }
    with pytest.raises(ConfigError) as caught:
        Registry.from_dict(data, source="tokenrack.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "defaults.timeout.read: expected a number greater than 0, got -1",
        "profiles.billing.scoeps: unknown key (did you mean 'scopes'?)",
        "profiles.reporting.client_id: required, but missing",
    ]
    assert "profiles.billing.timeout" not in str(caught.value)  # said once, at defaults


def test_an_unset_variable_in_defaults_is_each_inheriting_profiles_problem() -> None:
    data = {
        "version": 1,
        "defaults": {"ca_bundle": "${CA_BUNDLE}"},
        "profiles": {
            "billing": {
                "provider": "generic",
                "token_url": "https://i.example/t",
                "client_id": "a",
                "client_secret": "s",
            },
            "own": {
                "provider": "generic",
                "token_url": "https://i.example/t",
                "client_id": "a",
                "client_secret": "s",
                "ca_bundle": "/etc/ssl/ca.pem",
            },
        },
    }
    with Registry.from_dict(data, environ={}) as registry:
        assert list(registry.problems()) == ["billing"]
        assert str(registry.problems()["billing"]).endswith(
            "profiles.billing.ca_bundle: environment variable CA_BUNDLE is not set "
            "(set it, or write ${CA_BUNDLE:-default} to give a default) (set in defaults)"
        )


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"version": 2}, "version: expected 1"),
        ({"extra": 1}, "extra: unknown key"),
        ({"defaults": {"client_id": "x"}}, "defaults.client_id: unknown key"),
        ({"default_profile": "biling"}, "default_profile: no profile named 'biling'"),
    ],
)
def test_file_level_problems_stop_the_file(top: dict[str, Any], expected: str) -> None:
    data = {
        "version": 1,
        "profiles": {"billing": {"provider": "generic", "token_url": "https://i/t"}},
        **top,
    }
    with pytest.raises(ConfigError, match=expected):
        Registry.from_dict(data)


def test_empty_profiles_load_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        registry = Registry.from_dict({"version": 1, "profiles": {}}, source="empty.yaml")
    assert registry.profiles() == []
    assert "empty.yaml: profiles is empty; no profile can be used" in caplog.messages


# -- environ= ------------------------------------------------------------------------------


def test_environ_is_the_only_source_of_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_HOST", "from-os-environ.example")
    monkeypatch.setenv("SCOPE", "os-scope")
    data = {
        "version": 1,
        "profiles": {
            "a": {
                "provider": "generic",
                "token_url": "https://${IDP_HOST}/t",
                "client_id": "${CLIENT}",
                "scopes": ["${SCOPE:-fallback}"],
                "client_secret": "x-${PW}",
            }
        },
    }
    environ = {"IDP_HOST": "from-mapping.example", "CLIENT": "svc", "PW": "pw"}
    with Registry.from_dict(data, environ=environ) as registry:
        options = registry.config.profile("a").options
        assert options["token_url"] == "https://from-mapping.example/t"
        assert options["client_id"] == "svc"
        assert options["scopes"] == ["fallback"]  # not os.environ's SCOPE
        assert registry.runtime("a").secrets()["client_secret"].reveal() == "x-pw"
    with Registry.from_dict(data, environ={}) as registry:
        assert "environment variable IDP_HOST is not set" in str(registry.problems()["a"])


def test_from_file_reads_environ_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_HOST", "from-os-environ.example")
    path = tmp_path / "tokenrack.yaml"
    path.write_text(
        "version: 1\nprofiles:\n  a:\n    provider: generic\n"
        "    token_url: https://${IDP_HOST}/t\n    client_id: c\n    client_secret: s\n"
    )
    with Registry.from_file(path, environ={"IDP_HOST": "mapped.example"}) as registry:
        assert registry.config.profile("a").options["token_url"] == "https://mapped.example/t"


# -- default_profile -----------------------------------------------------------------------


def _with_default(name: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "profiles": {
            "billing": {
                "provider": "generic",
                "token_url": "https://i/t",
                "client_id": "a",
                "client_secret": "s",
            },
            "payroll": {"provider": "nosuch"},
        },
    }
    if name is not None:
        data["default_profile"] = name
    return data


def test_default_profile_is_read() -> None:
    assert Registry.from_dict(_with_default("billing")).default_profile == "billing"
    assert Registry.from_dict(_with_default(None)).default_profile is None
    # An unusable profile is still a profile of the file: its use says what is wrong.
    assert Registry.from_dict(_with_default("payroll")).default_profile == "payroll"


def test_default_profile_must_name_a_profile() -> None:
    with pytest.raises(ConfigError) as caught:
        Registry.from_dict(_with_default("biling"), source="tokenrack.yaml")
    assert str(caught.value) == (
        "tokenrack.yaml: default_profile: no profile named 'biling' (did you mean 'billing'?); "
        "known profiles: billing, payroll"
    )
    with pytest.raises(ConfigError, match="default_profile: expected a non-empty string"):
        Registry.from_dict({**_with_default(None), "default_profile": ""})


# -- providers -----------------------------------------------------------------------------


def test_a_misspelled_provider_is_named_with_file_path_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text("version: 1\nprofiles:\n  billing:\n    provider: generc\n")
    with Registry.from_file(path) as registry:
        error = registry.problems()["billing"]
    assert isinstance(error, ProviderNotFoundError)
    assert str(error).startswith(
        f"{path}: profiles.billing.provider: no provider named 'generc' is installed "
        "(did you mean 'generic'?) [line 4, column 5]; installed providers: "
    )
    assert (error.file, error.profile, error.suggestion) == (str(path), "billing", "generic")


def test_a_number_where_a_string_is_needed_says_to_quote_it() -> None:
    data = {
        "version": 1,
        "profiles": {
            "a": {
                "provider": "generic",
                "token_url": "https://i/t",
                "client_id": 123456,
                "client_secret": 83,
            }
        },
    }
    with Registry.from_dict(data) as registry:
        message = str(registry.problems()["a"])
    assert (
        "profiles.a.client_id: expected a non-empty string, got 123456; YAML reads an unquoted "
        "number as a number (0123 as octal 83): put it in quotes" in message
    )
    assert "profiles.a.client_secret: expected a non-empty string or a mapping" in message
    assert message.count("put it in quotes") == 2


def test_a_scope_with_a_space_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    data = {
        "version": 1,
        "profiles": {
            "spaced": {
                "provider": "generic",
                "token_url": "https://i/t",
                "client_id": CLIENT_ID,
                "client_secret": "s",
                "scopes": ["read invoices", "write"],
            }
        },
    }
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        Registry.from_dict(data, source="scopes-warning.yaml").close()
    assert caplog.messages == [
        "scopes-warning.yaml: profiles.spaced.scopes: 'read invoices' contains a space and "
        "will be sent as 2 scopes (scopes are separated by spaces); write them as separate "
        "items if you mean that"
    ]


def test_a_bad_key_file_stops_only_its_profile(emulator: TokenEmulator, tmp_path: Path) -> None:
    key = tmp_path / "payroll-key.pem"
    key.write_text("not a key\n")
    key.chmod(0o600)
    payroll = {
        **profile(emulator, auth_method="private_key_jwt", private_key=str(key)),
    }
    del payroll["client_secret"]
    data = {"version": 1, "profiles": {"billing": profile(emulator), "payroll": payroll}}
    with Registry.from_dict(data) as registry:
        assert registry.problems() == {}  # found at the first use: the key is read then
        with pytest.raises(ConfigError) as caught:
            registry.get_token("payroll")
        assert caught.value.path == "profiles.payroll.private_key"
        assert registry.get_token("billing").access_token.startswith(TOKEN_MARK)


def test_missing_redis_and_cryptography_stop_no_profile(emulator: TokenEmulator) -> None:
    code = (
        "import sys; sys.modules['redis'] = None; sys.modules['cryptography'] = None\n"
        "from tokenrack import Registry\n"
        "url, client, secret = sys.argv[1:]\n"
        "base = {'provider': 'generic', 'token_url': url, 'client_id': client,\n"
        "        'client_secret': secret}\n"
        "shared = {'backend': 'redis', 'url': 'redis://127.0.0.1:1/0',\n"
        "          'encryption_key': 'k' * 44}\n"
        "registry = Registry.from_dict({'version': 1, 'profiles': {\n"
        "    'billing': base, 'payroll': {**base, 'cache': shared}}})\n"
        "print(registry.problems())\n"
        "print(len(registry.get_token('billing').access_token) > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, emulator.token_url, CLIENT_ID, SECRET],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["{}", "True"]
