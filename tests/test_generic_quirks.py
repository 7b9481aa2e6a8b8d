"""The generic provider's declarative quirks, each against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from tests.conftest import CLIENT_ID, SECRET, LeakGuard, canary_client, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.oauth.generic import GenericProvider
from tokenrack.testing import Personality, TokenEmulator

Build = Callable[..., Registry]


class QueryPersonality(Personality):
    """A server that reads token parameters from the query string (Transporeon-style)."""

    query_parameters: ClassVar[bool] = True


@pytest.fixture
def query_emulator() -> Any:
    with TokenEmulator(
        [canary_client()], personality=QueryPersonality(), token_prefix="CANARYTOKEN-"
    ) as running:
        yield running


def test_json_body(emulator: TokenEmulator, make_registry: Build) -> None:
    registry = make_registry(
        {"j": profile(emulator, body_format="json", audience="https://api", scopes=["a", "b"])}
    )
    registry.get_token("j")
    sent = emulator.requests[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.form_value("audience") == "https://api" and sent.form_value("scope") == "a b"


def test_grant_type_and_comma_scopes(emulator: TokenEmulator, make_registry: Build) -> None:
    from tokenrack.testing import EmulatorClient

    emulator.add_client(EmulatorClient(CLIENT_ID, SECRET, grant_types=frozenset({"openapi_2lo"})))
    registry = make_registry(
        {"c": profile(emulator, grant_type="openapi_2lo", scope_separator=",", scopes=["b", "a"])}
    )
    token = registry.get_token("c")
    sent = emulator.requests[0]
    assert sent.form_value("grant_type") == "openapi_2lo"
    assert sent.form_value("scope") == "b,a"
    assert token.scopes == ("b", "a")
    assert registry.runtime("c").cache_key_parts["scope"] == "a b"


def test_response_fields_token_name_and_milliseconds(
    emulator: TokenEmulator, make_registry: Build
) -> None:
    emulator.expires_in = None
    emulator.extra_response.update({"jwt": "CANARYTOKEN-renamed", "ttl_ms": 600_000})
    fields = {"token": "jwt", "expires_in": "ttl_ms", "expires_in_unit": "ms"}
    token = make_registry({"r": profile(emulator, response_fields=fields)}).get_token("r")
    assert token.access_token == "CANARYTOKEN-renamed"
    assert 590 < token.expires_in() <= 600


def test_forced_token_type(emulator: TokenEmulator, make_registry: Build) -> None:
    emulator.token_type = "BearerToken"
    registry = make_registry({"t": profile(emulator, response_fields={"token_type": "Bearer"})})
    assert registry.get_token("t").authorization.startswith("Bearer ")


def test_url_template(emulator: TokenEmulator, make_registry: Build) -> None:
    template = "http://127.0.0.1:{port}/{prefix}/token"
    emulator.token_path = "/tenant-a/token"
    options = {
        "token_url": template,
        "token_url_params": {"port": str(emulator.port), "prefix": "tenant-a"},
    }
    make_registry({"t": profile(emulator, **options)}).get_token("t")
    assert emulator.requests[0].path == "/tenant-a/token"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"token_url": "https://{tenant}.idp.example/token"},
            r"profiles\.t\.token_url: the template names \{tenant\}",
        ),
        (
            {
                "token_url": "https://{tenant}.idp.example/token",
                "token_url_params": {"tenant": "a/b"},
            },
            r"profiles\.t\.token_url_params\.tenant: expected a host label",
        ),
        ({"token_url": "https://idp.example/{oops/token"}, r"profiles\.t\.token_url: not a valid"),
        ({"body_format": "xml"}, r"profiles\.t\.body_format"),
        (
            {"response_fields": {"expires_in_unit": "min"}},
            r"profiles\.t\.response_fields\.expires_in_unit",
        ),
    ],
)
def test_quirk_config_errors(options: dict[str, Any], message: str, make_registry: Build) -> None:
    base = {
        "provider": "generic",
        "token_url": "https://idp.example/token",
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError, match=message):
        make_registry({"t": {**base, **options}})


# -- parameters in the query string, and the secret that must not follow them ---------------


def test_query_parameters_with_basic(query_emulator: TokenEmulator, make_registry: Build) -> None:
    registry = make_registry(
        {
            "q": profile(
                query_emulator,
                params_in="query",
                scopes=["read"],
                auth_method="client_secret_basic",
            )
        }
    )
    registry.get_token("q")
    sent = query_emulator.requests[0]
    assert dict(sent.query) == {"grant_type": "client_credentials", "scope": "read"}
    assert sent.form == () and sent.auth_method == "client_secret_basic"


def test_secret_in_the_query_is_refused_at_load(make_registry: Build) -> None:
    base = {
        "provider": "generic",
        "token_url": "https://idp.example/token",
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError) as caught:
        make_registry({"q": {**base, "params_in": "query", "auth_method": "client_secret_post"}})
    assert caught.value.path == "profiles.q.params_in"
    assert "allow_secret_in_query" in str(caught.value)
    # auto may fall back to client_secret_post at run time, so it is refused the same way.
    with pytest.raises(ConfigError, match="params_in: query with auto could put the client secret"):
        make_registry({"q": {**base, "params_in": "query"}})


def test_allowed_secret_in_the_query_never_reaches_a_log_line(
    query_emulator: TokenEmulator, make_registry: Build, leak_guard: LeakGuard
) -> None:
    # urllib3 logs the request line, query included, at DEBUG (the suite runs at DEBUG and
    # fails any test whose log holds the canary secret, percent-encoded or not).
    options = {
        "params_in": "query",
        "auth_method": "client_secret_post",
        "allow_secret_in_query": True,
    }
    make_registry({"q": profile(query_emulator, **options)}).get_token("q")
    assert query_emulator.requests[0].auth_method == "client_secret_post"
    lines = [line for line in leak_guard.lines if line.startswith("urllib3.connectionpool")]
    assert any("client_secret=***" in line and "client_id=canary-client" in line for line in lines)


def test_errors_never_quote_the_query(query_emulator: TokenEmulator, make_registry: Build) -> None:
    from tokenrack.errors import TokenResponseError
    from tokenrack.testing import Fault

    query_emulator.fail_next(Fault.raw(b"<html>oops</html>", content_type="text/html"))
    options = {
        "params_in": "query",
        "auth_method": "client_secret_post",
        "allow_secret_in_query": True,
    }
    with pytest.raises(TokenResponseError) as caught:
        make_registry({"q": profile(query_emulator, **options)}).get_token("q")
    assert "?" not in str(caught.value) and "client_id" not in str(caught.value)


def test_unrelated_query_parameters_are_left_alone() -> None:
    import logging

    from tokenrack.http.requests_transport import UrlSecretFilter

    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s "%s"',
        ("x", "POST /t?grant_type=cc&api_key=k1&scope=a HTTP/1.1"),
        None,
    )
    assert UrlSecretFilter().filter(record)
    assert record.getMessage() == 'x "POST /t?grant_type=cc&api_key=***&scope=a HTTP/1.1"'


def test_cache_key_parts_include_the_shape() -> None:
    provider = GenericProvider(
        {"token_url": "https://x/t", "client_id": "c", "body_format": "json", "grant_type": "g"}
    )
    assert provider.cache_key_parts()["grant_type"] == "g"
    assert json.dumps(dict(provider.cache_key_parts()))
