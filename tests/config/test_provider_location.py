"""A misspelled provider names its line and column, like other config errors (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenrack import ProviderNotFoundError, Registry

CONFIG = """\
version: 1
profiles:
  billing:
    client_id: x
    provider: generc
    token_url: http://127.0.0.1:1/token
  child:
    extends: billing
"""


def test_a_missing_provider_names_the_line_and_column_it_is_written_at(tmp_path: Path) -> None:
    path = tmp_path / "tokenrack.yaml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    registry = Registry.from_file(path)
    with pytest.raises(ProviderNotFoundError) as raised:
        registry.runtime("billing")
    error = raised.value
    assert (error.line, error.column) == (5, 5)
    assert error.origin is None
    assert "profiles.billing.provider: no provider named 'generc'" in str(error)
    assert "(did you mean 'generic'?) [line 5, column 5]; installed providers:" in str(error)
    # Inherited: the line where it is written, and the section that wrote it.
    with pytest.raises(ProviderNotFoundError) as inherited:
        registry.runtime("child")
    assert (inherited.value.line, inherited.value.origin) == (5, "profiles.billing")
    assert "profiles.child.provider: " in str(inherited.value)
    assert "(set in profiles.billing) [line 5, column 5]" in str(inherited.value)
    registry.close()


def test_a_config_from_a_dict_has_no_line_to_name() -> None:
    registry = Registry.from_dict(
        {"version": 1, "profiles": {"a": {"provider": "generc", "client_id": "x"}}}
    )
    with pytest.raises(ProviderNotFoundError) as raised:
        registry.runtime("a")
    assert raised.value.line is None and "[line" not in str(raised.value)
    registry.close()
