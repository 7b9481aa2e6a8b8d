"""Authlib's OAuth 2.0 authorization server (Flask), as an independent token server.

Authlib checks each client's registered ``token_endpoint_auth_method`` through
``ClientMixin.check_endpoint_auth_method``: a client registered for ``client_secret_post`` is
refused (401 ``invalid_client``) when it sends its secret in a Basic header, and the other way
round. Served on 127.0.0.1, a free port, in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import Flask, request
from werkzeug.serving import make_server


@dataclass
class AuthlibClient(ClientMixin):
    """A registered client: its id, secret and the one method it is registered for."""

    client_id: str
    client_secret: str
    token_endpoint_auth_method: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """The grant, open to both secret methods (each client still to its own)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass
class Seen:
    """One token request: whether it carried a Basic header, and the answer's status."""

    basic: bool
    status: int


@dataclass
class AuthlibServer:
    """A running Authlib server: its token URL and the token requests it answered."""

    token_url: str
    requests: list[Seen] = field(default_factory=list)

    def basic_attempts(self) -> int:
        """How many token requests authenticated (or tried to) with a Basic header."""
        return sum(1 for r in self.requests if r.basic)


class RunningAuthlib:
    """Starts the Flask app in a thread; ``stop`` shuts it down."""

    def __init__(self, clients: Iterable[AuthlibClient]) -> None:
        registered = {c.client_id: c for c in clients}
        app = Flask("tokenrack-interop-authlib")
        server = AuthorizationServer(
            app,
            query_client=registered.get,
            save_token=lambda token, req: None,
        )
        server.register_grant(ClientCredentialsGrant)
        self._http = make_server("127.0.0.1", 0, app, threaded=True)
        self.server = AuthlibServer(token_url=f"http://127.0.0.1:{self._http.port}/token")
        seen = self.server.requests

        @app.post("/token")
        def token() -> Any:
            response = server.create_token_response()
            basic = request.headers.get("Authorization", "").lower().startswith("basic ")
            seen.append(Seen(basic=basic, status=response.status_code))
            return response

        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
