"""Hints for two first-user slips the review met (ux §5 row 2, §3): a tab, and https to http."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import profile
from tokenrack.config.document import parse_document
from tokenrack.errors import ConfigError, TokenEndpointUnavailableError
from tokenrack.testing import TokenEmulator


def test_a_tab_in_the_indentation_is_named_as_a_tab() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_document("version: 1\nprofiles:\n\tbilling: {}\n", source="tokenrack.yaml")
    assert "line 3, column 1" in str(caught.value)
    assert "a tab: YAML indents with spaces" in str(caught.value)


def test_other_yaml_errors_get_no_tab_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_document("version: 1\nprofiles: {billing: \n", source="tokenrack.yaml")
    assert "tab" not in str(caught.value)


def test_https_to_a_plain_http_server_suggests_the_scheme(
    emulator: TokenEmulator, make_registry: Callable[..., Any]
) -> None:
    https_url = emulator.token_url.replace("http://", "https://", 1)
    registry = make_registry({"billing": profile(emulator, token_url=https_url)})
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        registry.get_token("billing")
    assert "TLS failure" in str(caught.value)
    assert "does the server speak plain http on this port?" in str(caught.value)
