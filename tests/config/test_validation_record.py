"""The validation record (issue 15): an unchanged config skips jsonschema, a changed one never.

Each test keeps its record in its own cache directory and counts the validators jsonschema
builds: zero means the record answered, more means a full validation ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tokenrack import Registry
from tokenrack.config import validated
from tokenrack.config.validate import validate
from tokenrack.oauth.generic import GenericProvider
from tokenrack.testing import TokenEmulator

CONFIG = """\
version: 1
profiles:
  billing:
    provider: generic
    token_url: ${{TOKEN_URL}}
    client_id: test-client
    client_secret: {{env: RECORD_TEST_SECRET}}
    timeout: 5
"""


@pytest.fixture
def validators(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Any]]:
    """Counts jsonschema validators built; a fresh, private record in tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(validated.SWITCH, raising=False)
    monkeypatch.setattr(validated, "_records", {})
    built: list[Any] = []
    real = jsonschema.Draft202012Validator

    def counting(schema: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(schema)
        return real(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema, "Draft202012Validator", counting)
    yield built


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a process exit and a new start do to the record: write it, then read it anew."""
    for record in validated._records.values():
        record.flush()
    monkeypatch.setattr(validated, "_records", {})


def load(path: Path, **kwargs: Any) -> Registry:
    registry = Registry.from_file(path, **kwargs)
    registry.close()
    return registry


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: TokenEmulator) -> Path:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(CONFIG.format())
    monkeypatch.setenv("TOKEN_URL", emulator.token_url)
    monkeypatch.setenv("RECORD_TEST_SECRET", "s3cr3t-value")
    return path


def test_an_unchanged_config_is_not_validated_again(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load(config).problems() == {}
    assert validators, "the first load validates"
    new_process(monkeypatch)
    validators.clear()
    assert load(config).problems() == {}
    assert validators == []


def test_a_one_byte_change_is_validated_and_its_error_raised(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(config)
    new_process(monkeypatch)
    config.write_text(config.read_text().replace("timeout: 5", "timeout: x"))
    validators.clear()
    problems = load(config).problems()
    assert validators, "a changed file is validated in full"
    assert "billing" in problems
    assert "profiles.billing.timeout" in str(problems["billing"])


def test_a_changed_environment_variable_is_validated_and_its_error_raised(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(config)
    new_process(monkeypatch)
    # The file is the same; the value the schema sees is not.
    monkeypatch.setenv("TOKEN_URL", "not-a-url")
    validators.clear()
    problems = load(config).problems()
    assert validators, "a changed ${VAR} value is validated in full"
    assert "profiles.billing.token_url" in str(problems["billing"])


def test_a_changed_plugin_schema_is_validated_and_its_error_raised(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(config)
    new_process(monkeypatch)
    # A plugin upgrade that now requires an option the config lacks.
    upgraded = dict(GenericProvider.options_schema)
    upgraded["required"] = [*upgraded["required"], "tenant"]
    monkeypatch.setattr(GenericProvider, "options_schema", upgraded)
    validators.clear()
    problems = load(config).problems()
    assert validators, "a changed plugin schema is validated in full"
    assert "profiles.billing.tenant" in str(problems["billing"])


def test_a_changed_version_is_validated_again(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(config)
    new_process(monkeypatch)
    monkeypatch.setattr(validated, "_versions_found", ("99.0", "1.0"))
    validators.clear()
    load(config)
    assert validators


def test_an_invalid_config_is_never_recorded(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(config.read_text().replace("timeout: 5", "timeout: -1"))
    for _ in range(2):
        validators.clear()
        assert "billing" in load(config).problems()
        assert validators
        new_process(monkeypatch)


def record_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "tokenrack" / validated.RECORD_FILE


def test_the_record_is_private_and_holds_no_value(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    load(config)
    new_process(monkeypatch)
    path = record_path(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "s3cr3t-value" not in text and "test-client" not in text
    digests = json.loads(text)["digests"]
    assert digests and all(len(d) == 32 for d in digests)


def test_a_record_not_ours_alone_is_ignored(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    load(config)
    new_process(monkeypatch)
    path = record_path(tmp_path)
    os.chmod(path, 0o666)  # another user could have written it
    validators.clear()
    load(config)
    assert validators, "a group- or world-writable record is not trusted"


def test_a_digest_computed_without_the_users_key_is_not_accepted(
    validators: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    instance = {"n": "not a number"}
    # Someone who knows the instance and the schema, but not the key, plants a digest.
    planted = validated.digest_of(b"\0" * 32, instance, schema, "x")
    assert planted is not None
    directory = tmp_path / "cache" / "tokenrack"
    directory.mkdir(parents=True, mode=0o700)
    path = directory / validated.RECORD_FILE
    path.write_text(json.dumps({"version": 1, "digests": [planted]}))
    os.chmod(path, 0o600)
    problems = validate(instance, schema, base="x")
    assert [p.path for p in problems] == ["x.n"]


def test_values_without_an_exact_json_form_are_always_validated(
    validators: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {"type": "object"}
    for instance in ({1: "a"}, {"a": (1, 2)}, {"a": object()}):
        for _ in range(2):
            validators.clear()
            validate(instance, schema, base="x")
            assert validators
        new_process(monkeypatch)


def test_json_types_stay_distinct() -> None:
    key = b"k" * 32
    schema: dict[str, Any] = {}
    digests = {
        validated.digest_of(key, value, schema, "x") for value in (1, 1.0, "1", True, None, [1])
    }
    assert len(digests) == 6


def test_the_record_can_be_turned_off(
    validators: list[Any], config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(validated.SWITCH, "off")
    load(config)
    new_process(monkeypatch)
    validators.clear()
    load(config)
    assert validators
    assert not record_path(tmp_path).exists()


def test_one_composed_schema_is_written_out_once_for_many_profiles(
    validators: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 30 profiles of one provider share one composed schema object: writing it out as JSON
    # for each profile's digest was most of what building them cost (issue 15).
    monkeypatch.setenv("RECORD_TEST_SECRET", "s3cr3t-value")
    monkeypatch.setattr(validated, "_schema_texts", {})
    written: list[Any] = []
    real = validated._schema_text

    def counting(schema: Any) -> str:
        written.append(schema)
        return real(schema)

    monkeypatch.setattr(validated, "_schema_text", counting)
    path = tmp_path / "many.yaml"
    profiles = "".join(
        f"  p{i}:\n    provider: generic\n    token_url: https://idp.example/t\n"
        f"    client_id: c{i}\n    client_secret: {{env: RECORD_TEST_SECRET}}\n"
        for i in range(30)
    )
    path.write_text(f"version: 1\nprofiles:\n{profiles}")
    with Registry.from_file(path) as registry:
        assert registry.config.problems() == {}
    profile_schemas = [schema for schema in written if "client_id" in schema.get("properties", {})]
    assert len(profile_schemas) == 1
    assert len(written) < 5


def test_a_new_schema_object_with_other_content_gets_another_digest() -> None:
    key = b"k" * 32
    first: dict[str, Any] = {"type": "object"}
    second: dict[str, Any] = {"type": "object", "required": ["n"]}
    digests = {validated.digest_of(key, {"n": 1}, schema, "x") for schema in (first, second)}
    assert len(digests) == 2
    assert validated.digest_of(key, {"n": 1}, dict(first), "x") in digests
