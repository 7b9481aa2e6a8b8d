"""Strict YAML: a key written twice is an error naming both lines; errors carry line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenrack.config import document
from tokenrack.config.document import parse_document, parse_yaml
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, SecretError

PROFILE = """\
version: 1
profiles:
  billing:
    provider: generic
    token_url: https://idp.example/oauth/token
    client_id: test-client
    client_secret: {env: S}
    client_id: prod-client
"""


def test_a_repeated_key_names_the_key_its_path_and_both_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(PROFILE, source="tokenrack.yaml")
    error = caught.value
    assert error.path == "profiles.billing.client_id"
    assert error.file == "tokenrack.yaml"
    assert str(error) == (
        "tokenrack.yaml: profiles.billing.client_id: the key 'client_id' is written twice in "
        "one mapping, at line 6, column 5 and line 8, column 5; YAML would keep only the "
        "last one: remove one of them"
    )


def test_a_profile_written_twice_is_refused(tmp_path: Path) -> None:
    text = (
        "version: 1\nprofiles:\n"
        "  billing:\n    provider: generic\n    token_url: https://a.example/t\n"
        "  reporting:\n    provider: generic\n"
        "  billing:\n    provider: generic\n    token_url: https://b.example/t\n"
    )
    path = tmp_path / "tokenrack.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: profiles.billing: the key 'billing' is written twice")
    assert "at line 3, column 3 and line 8, column 3" in message


def test_a_key_repeated_in_defaults_is_refused() -> None:
    text = "version: 1\ndefaults:\n  default_ttl: 60\n  default_ttl: 90\nprofiles: {}\n"
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, source="t.yaml")
    assert caught.value.path == "defaults.default_ttl"
    assert "line 3, column 3 and line 4, column 3" in str(caught.value)


def test_a_repeated_key_inside_a_list_item_is_named_by_its_index() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("items:\n  - a: 1\n    a: 2\n", source="t.yaml")
    assert caught.value.path == "items[0].a"


def test_merge_keys_and_overrides_are_not_duplicates() -> None:
    # ``<<`` brings keys in, and a key written after it overrides one of them: both are
    # ordinary YAML, not a key written twice.
    text = (
        "base: &base {timeout: 5, retries: 2}\n"
        "one:\n  <<: *base\n  timeout: 9\n"
        "two:\n  <<: *base\n  <<: {extra: 1}\n"
    )
    data = parse_yaml(text, source="t.yaml")
    assert data["one"] == {"timeout": 9, "retries": 2}
    assert data["two"]["extra"] == 1


def test_same_text_different_types_are_different_keys() -> None:
    # 1 and "1" are two keys for YAML (an int and a string), so not a repetition.
    assert parse_yaml('m:\n  1: a\n  "1": b\n', source="t.yaml") == {"m": {1: "a", "1": "b"}}


def test_an_aliased_mapping_is_checked_once_and_still_bounded() -> None:
    text = "shared: &s {a: 1, b: 2}\nx: *s\ny: *s\n"
    assert parse_yaml(text, source="t.yaml")["y"] == {"a": 1, "b": 2}


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="libyaml is not installed")
def test_the_c_parser_is_used_when_libyaml_is_there() -> None:
    assert document._Loader is yaml.CSafeLoader


def test_schema_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(
        "version: 1\n"
        "profiles:\n"
        "  billing:\n"
        "    provider: generic\n"
        "    token_url: https://idp.example/oauth/token\n"
        "    client_id: abc\n"
        "    scoeps: [read]\n"
        "    client_secret: {env: S}\n"
    )
    with Registry.from_file(path) as registry, pytest.raises(ConfigError) as caught:
        registry.get_token("billing")
    assert str(caught.value) == (
        f"{path}: profiles.billing.scoeps: unknown key (did you mean 'scopes'?) [line 7, column 5]"
    )
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (7, 5)  # type: ignore[attr-defined]


def test_a_missing_key_is_located_at_its_profile(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text("version: 1\nprofiles:\n  billing:\n    client_id: abc\n")
    with Registry.from_file(path) as registry, pytest.raises(ConfigError) as caught:
        registry.runtime("billing")
    assert str(caught.value).endswith(
        "profiles.billing.provider: required, but missing [line 3, column 3]"
    )


def test_top_level_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text("version: 1\nprofiles: {}\nprofile: {}\n")
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path)
    assert "profile: unknown key (did you mean 'profiles'?) [line 3, column 1]" in str(caught.value)


def test_a_dict_config_has_no_marks() -> None:
    assert parse_document("a: 1\n", source="t.yaml").marks.of("a") == (1, 1)
    with (
        Registry.from_dict({"version": 1, "profiles": {"a": {"provider": "generic"}}}) as registry,
        pytest.raises(ConfigError) as caught,
    ):
        registry.runtime("a")
    assert "[line" not in str(caught.value)


def test_an_error_found_at_first_use_is_located_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_SECRET_FOR_MARKS", raising=False)
    path = tmp_path / "tokenrack.yaml"
    path.write_text(
        "version: 1\n"
        "profiles:\n"
        "  billing:\n"
        "    provider: generic\n"
        "    token_url: https://idp.example/oauth/token\n"
        "    client_id: abc\n"
        "    client_secret: {env: UNSET_SECRET_FOR_MARKS}\n"
    )
    with Registry.from_file(path) as registry, pytest.raises(SecretError) as caught:
        registry.runtime("billing")
    assert str(caught.value).startswith(f"{path}: profiles.billing.client_secret: ")
    assert str(caught.value).endswith("[line 7, column 5]")
    assert caught.value.profile == "billing"


def test_a_loaded_config_keeps_no_yaml_nodes(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(PROFILE.replace("    client_id: prod-client\n", ""))
    with Registry.from_file(path) as registry:
        assert registry.config.marks._root is None  # the document, inline secrets and all
        assert registry.config.marks.of("profiles.billing.client_id") == (6, 5)


def test_the_cli_names_both_lines_without_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "tokenrack.yaml"
    path.write_text(PROFILE)
    path.chmod(0o600)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("TOKENRACK_PROFILE", None)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("tokenrack")),
            "--config",
            str(path),
            "token",
            "billing",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the key 'client_id' is written twice" in done.stderr
    assert "line 6, column 5 and line 8, column 5" in done.stderr
    assert "Traceback" not in done.stderr
