"""``client_assertion`` against Authlib's server: RFC 7523 client authentication, independently.

Authlib's ``JWTBearerClientAssertion`` (authlib.oauth2.rfc7523) verifies the assertion
tokenrack reads from a file: the signature with the key the client is registered with
(joserfc, not PyJWT nor the emulator's verifier), ``iss`` = ``sub``, ``aud``, ``exp`` and a
``jti`` never seen before. The assertion is signed by the test, standing for the platform
that issues it; tokenrack only reads and sends it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.keys import private_key, public_pem
from tokenrack import Registry
from tokenrack.errors import InvalidClientError

pytest.importorskip("flask")
pytest.importorskip("authlib")

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Flask, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

CLIENT = "federated-workload"
METHOD = JWTBearerClientAssertion.CLIENT_AUTH_METHOD


@dataclass
class AssertionClient(ClientMixin):
    """A client registered with a public key, authenticated by JWT assertions only."""

    client_id: str
    public_key: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class Grant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [METHOD]


class Authlib:
    """Authlib's server on 127.0.0.1, a free port, with JWT client assertions."""

    def __init__(self) -> None:
        app = Flask("tokenrack-interop-client-assertion")
        clients = {CLIENT: AssertionClient(CLIENT, public_pem("rsa"))}
        server = AuthorizationServer(app, query_client=clients.get, save_token=lambda t, r: None)
        server.register_grant(Grant)
        self._http = make_server("127.0.0.1", 0, app, threaded=True)
        self.token_url = f"http://127.0.0.1:{self._http.port}/token"
        seen: set[str] = set()
        self.statuses: list[int] = []
        token_url = self.token_url

        class Assertions(JWTBearerClientAssertion):
            def get_audiences(self) -> list[str]:
                return [token_url]

            def validate_jti(self, claims: Any, jti: str) -> bool:
                if jti in seen:
                    return False
                seen.add(jti)
                return True

            def resolve_client_public_key(self, client: AssertionClient) -> Any:
                return RSAKey.import_key(client.public_key)

        server.register_client_auth_method(METHOD, Assertions())

        @app.post("/token")
        def token() -> Any:
            answer = server.create_token_response()
            self.statuses.append(answer.status_code)
            self.last_form = dict(request.form)
            return answer

        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def authlib() -> Iterator[Authlib]:
    server = Authlib()
    try:
        yield server
    finally:
        server.stop()


def issued(audience: str, *, jti: str | None = None) -> str:
    """An assertion as the platform would issue it for this client."""
    now = int(time.time())
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key("rsa"), algorithm="RS256")


def profile(server: Authlib, token_file: Path) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": server.token_url,
        "client_id": CLIENT,
        "auth_method": "client_assertion",
        "client_assertion": {"file": str(token_file)},
        "allow_insecure_http": True,
        "retries": {"attempts": 1},
    }


def test_authlib_accepts_the_assertion_read_from_the_file_and_each_rotation(
    authlib: Authlib, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issued(authlib.token_url))
    registry = make_registry({"w": profile(authlib, token_file)})
    assert registry.get_token("w").access_token
    assert authlib.last_form["client_assertion"] == token_file.read_text()
    token_file.write_text(issued(authlib.token_url))  # rotated
    assert registry.get_token("w", force_refresh=True).access_token
    assert authlib.statuses == [200, 200]


def test_authlib_refuses_a_replayed_assertion_and_tokenrack_reports_invalid_client(
    authlib: Authlib, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issued(authlib.token_url, jti="once"))
    registry = make_registry({"w": profile(authlib, token_file)})
    registry.get_token("w")
    # The writer stopped rotating: the same assertion again is a replay for Authlib.
    with pytest.raises(InvalidClientError):
        registry.get_token("w", force_refresh=True)
    # invalid_client (Authlib answers 400 when no Basic header was sent): one re-read and
    # retry, then given up.
    assert authlib.statuses == [200, 400, 400]


def test_authlib_refuses_an_assertion_for_another_audience(
    authlib: Authlib, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issued("https://elsewhere.example/token"))
    registry = make_registry({"w": profile(authlib, token_file)})
    with pytest.raises(InvalidClientError):
        registry.get_token("w")
