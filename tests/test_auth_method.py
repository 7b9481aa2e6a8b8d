"""Client authentication: exact request shapes (responses) and the server's view (emulator)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

import pytest
import responses

from tests.conftest import profile
from tokenrack.auth.methods import (
    ClientCredentials,
    ClientSecretBasic,
    ClientSecretPost,
    rfc6749_encode,
)
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.oauth.message import TokenRequest
from tokenrack.secret.value import Secret
from tokenrack.testing import EmulatorClient, TokenEmulator

TRICKY = [
    "plain",
    "with:colon",
    "plus+slash/equals=",
    "percent%25&amp",
    "space here",
    "ünïcødé-€",
    "~._-unreserved",
]


def basic_pair(request: TokenRequest) -> tuple[str, str]:
    header = request.header("Authorization")
    assert isinstance(header, Secret)
    scheme, _, encoded = header.reveal().partition(" ")
    assert scheme == "Basic"
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    return client_id, secret


@pytest.mark.parametrize("value", TRICKY)
def test_rfc6749_encoding_round_trips_through_a_form_decoder(value: str) -> None:
    encoded = rfc6749_encode(value)
    assert unquote(encoded) == value
    assert all(c.isalnum() or c in "-._~%" for c in encoded)
    assert "+" not in encoded  # a space is %20, never +


@pytest.mark.parametrize("client_id", TRICKY)
@pytest.mark.parametrize("secret", TRICKY)
def test_basic_header_encodes_each_part(client_id: str, secret: str) -> None:
    client = ClientCredentials(profile="p", client_id=client_id, client_secret=Secret(secret))
    sent_id, sent_secret = basic_pair(
        ClientSecretBasic().authenticate(TokenRequest(url="https://x"), client)
    )
    assert (sent_id, sent_secret) == (rfc6749_encode(client_id), rfc6749_encode(secret))
    assert ":" not in sent_id  # the separator stays unambiguous


def test_raw_basic_encoding() -> None:
    client = ClientCredentials(
        profile="p",
        client_id="id+1",
        client_secret=Secret("a b%"),
        options={"basic_encoding": "raw"},
    )
    assert basic_pair(ClientSecretBasic().authenticate(TokenRequest(url="https://x"), client)) == (
        "id+1",
        "a b%",
    )


def test_post_puts_credentials_in_the_form_once() -> None:
    request = TokenRequest(url="https://x", form=(("client_id", "old"),))
    client = ClientCredentials(profile="p", client_id="id", client_secret=Secret("s"))
    done = ClientSecretPost().authenticate(request, client)
    assert done.form_values("client_id") == ["id"]
    assert done.form_value("client_secret") == Secret("s")
    assert done.header("Authorization") is None


def test_missing_secret_is_a_config_error() -> None:
    client = ClientCredentials(profile="p", client_id="id")
    with pytest.raises(ConfigError, match="client_secret_basic needs client_secret"):
        ClientSecretBasic().authenticate(TokenRequest(url="https://x"), client)


@responses.activate
def test_wire_shape_of_basic_and_post() -> None:
    responses.post("https://idp.test/token", json={"access_token": "t", "expires_in": 60})
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "basic": {
                    "provider": "generic",
                    "token_url": "https://idp.test/token",
                    "client_id": "my id",
                    "client_secret": "p@ss+word",
                    "scopes": ["a", "b"],
                },
                "post": {
                    "provider": "generic",
                    "token_url": "https://idp.test/token",
                    "client_id": "my id",
                    "client_secret": "p@ss+word",
                    "auth_method": "client_secret_post",
                },
            },
        }
    )
    registry.get_token("basic")
    registry.get_token("post")
    basic, post = (call.request for call in responses.calls)
    assert basic.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert basic.headers["Accept"] == "application/json"
    assert (
        basic.headers["Authorization"]
        == "Basic " + base64.b64encode(b"my%20id:p%40ss%2Bword").decode()
    )
    assert parse_qsl(basic.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("scope", "a b"),
    ]
    assert "Authorization" not in post.headers
    assert parse_qsl(post.body.decode()) == [
        ("grant_type", "client_credentials"),
        ("client_id", "my id"),
        ("client_secret", "p@ss+word"),
    ]


@pytest.mark.parametrize("secret", TRICKY)
def test_rfc6749_server_accepts_every_tricky_secret(
    secret: str, make_registry: Callable[..., Registry]
) -> None:
    with TokenEmulator([EmulatorClient("id:with/odd chars", secret)]) as emulator:
        registry = make_registry(
            {"a": profile(emulator, client_id="id:with/odd chars", client_secret=secret)}
        )
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_raw_encoding_for_servers_that_do_not_decode(
    make_registry: Callable[..., Registry],
) -> None:
    with TokenEmulator([EmulatorClient("id", "a+b/c")], basic_decoding="raw") as emulator:
        registry = make_registry(
            {
                "encoded": profile(
                    emulator,
                    client_id="id",
                    client_secret="a+b/c",
                    scopes=["x"],
                    auth_method="client_secret_basic",
                ),
                "raw": profile(
                    emulator,
                    client_id="id",
                    client_secret="a+b/c",
                    basic_encoding="raw",
                    auth_method="client_secret_basic",
                ),
            }
        )
        from tokenrack.errors import InvalidClientError

        with pytest.raises(InvalidClientError):
            registry.get_token("encoded")  # this server compares the encoded form verbatim
        assert registry.get_token("raw").access_token in emulator.issued_tokens
