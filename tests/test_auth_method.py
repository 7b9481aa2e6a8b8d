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


# -- the AuthMethod base ------------------------------------------------------------------

BUILT_IN_METHODS = {
    # name: (required_options, secret_options, requires_extra, requires_client_certificate)
    "client_secret_basic": (("client_id", "client_secret"), frozenset(), None, False),
    "client_secret_post": (("client_id", "client_secret"), frozenset(), None, False),
    "client_secret_jwt": (("client_id", "client_secret"), frozenset(), None, False),
    "private_key_jwt": (
        ("client_id", "private_key"),
        frozenset({"private_key", "private_key_passphrase", "certificate"}),
        "tokenrack[jwt]",
        False,
    ),
    "tls_client_auth": (
        ("client_id", "client_cert", "client_key"),
        frozenset({"client_cert", "client_key", "client_key_passphrase"}),
        None,
        True,
    ),
    "self_signed_tls_client_auth": (
        ("client_id", "client_cert", "client_key"),
        frozenset({"client_cert", "client_key", "client_key_passphrase"}),
        None,
        True,
    ),
    "client_assertion": (("client_assertion",), frozenset({"client_assertion"}), None, False),
    "none": ((), frozenset(), None, False),
}


def test_every_built_in_method_subclasses_the_base_and_keeps_its_attributes() -> None:
    from tokenrack.auth.methods import AuthMethod
    from tokenrack.core.catalog import AUTH_METHODS, PluginCatalog

    catalog = PluginCatalog()
    assert catalog.names(AUTH_METHODS) == sorted(BUILT_IN_METHODS)
    for name, (required, secret, extra, certificate) in BUILT_IN_METHODS.items():
        method = catalog.auth_method(name)
        assert issubclass(method, AuthMethod), name
        assert method.name == name
        assert method.required_options == required, name
        assert method.secret_options == secret, name
        assert method.requires_extra == extra, name
        assert method.requires_client_certificate is certificate, name


def test_a_subclass_states_only_what_differs() -> None:
    from tokenrack.plugin import AuthMethod

    class Minimal(AuthMethod):
        name = "minimal"

        def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
            return request.with_form(("client_id", client.client_id))

    assert Minimal.options_schema == {}
    assert Minimal.required_options == ()
    assert Minimal.secret_options == frozenset()
    assert Minimal.requires_extra is None
    assert Minimal.requires_client_certificate is False
    request = TokenRequest(url="https://as.example/token")
    done = Minimal().authenticate(request, ClientCredentials(profile="p", client_id="id"))
    assert done.form_value("client_id") == "id"


def test_a_subclass_without_authenticate_cannot_be_instantiated() -> None:
    from tokenrack.plugin import AuthMethod

    class Unfinished(AuthMethod):
        name = "unfinished"

    with pytest.raises(TypeError, match="authenticate"):
        Unfinished()  # type: ignore[abstract]
