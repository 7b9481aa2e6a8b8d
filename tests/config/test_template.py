"""config/template: the core's template secret source reads the mapping it is given."""

from __future__ import annotations

import pytest

from tokenrack.config.template import TEMPLATE, TemplateSecretSource
from tokenrack.errors import SecretError


def test_interpolates_from_the_given_mapping_not_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("A1_TEMPLATE_VAR", "from-os-environ")
    source = TemplateSecretSource({"A1_TEMPLATE_VAR": "from-mapping"})
    assert source.resolve("pre-${A1_TEMPLATE_VAR}-$$") == "pre-from-mapping-$"


def test_reads_the_mapping_at_each_resolve() -> None:
    environ = {"V": "one"}
    source = TemplateSecretSource(environ)
    assert source.resolve("${V}") == "one"
    environ["V"] = "two"  # rotated: the next read sees it
    assert source.resolve("${V}") == "two"


def test_a_missing_variable_is_a_secret_error_naming_it() -> None:
    with pytest.raises(SecretError, match="MISSING_VAR is not set"):
        TemplateSecretSource({}).resolve("${MISSING_VAR}")


def test_a_malformed_reference_is_a_secret_error() -> None:
    with pytest.raises(SecretError, match="unclosed"):
        TemplateSecretSource({}).resolve("${")


def test_its_name_and_repr_never_show_the_environment() -> None:
    source = TemplateSecretSource({"TOKEN": "CANARYSECRET"})
    assert source.name == TEMPLATE == "template"
    assert "CANARYSECRET" not in repr(source)
