"""Authlib's RFC 7523 ``JWTBearerGrant`` on a Flask ``AuthorizationServer``, on loopback.

An independent server for ``grant: jwt_bearer``: Authlib (on joserfc) finds the client by
the assertion's ``iss``, verifies the signature with the client's registered public key,
checks ``aud`` against :meth:`JwtBearer.get_audiences`, ``exp`` with its leeway, and looks
the ``sub`` up as a user the client may act for. Nothing here is tokenrack's code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc7523 import JWTBearerGrant
from flask import Flask
from joserfc.jwk import KeySet, import_key
from werkzeug.serving import make_server


@dataclass
class Issuer(ClientMixin):  # type: ignore[misc]
    """A client that signs assertions: its id (the ``iss``), PEM public key and users."""

    client_id: str
    public_key: str
    key_type: str  # joserfc's: "RSA" or "EC"
    users: frozenset[str] = frozenset()

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == JWTBearerGrant.GRANT_TYPE


@dataclass
class AuthlibJwtBearer:
    """A running server: its token URL and the (status, body) of each answer."""

    token_url: str
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


class RunningJwtBearer:
    """Starts the Flask app in a thread; ``stop`` shuts it down."""

    def __init__(self, issuers: list[Issuer], audiences: list[str] | None = None) -> None:
        registered = {i.client_id: i for i in issuers}
        app = Flask("tokenrack-interop-jwt-bearer")
        server = AuthorizationServer(
            app, query_client=registered.get, save_token=lambda token, req: None
        )
        self._http = make_server("127.0.0.1", 0, app, threaded=True)
        token_url = f"http://127.0.0.1:{self._http.port}/token"
        accepted = audiences or [token_url]

        class Grant(JWTBearerGrant):  # type: ignore[misc]
            def resolve_issuer_client(self, issuer: str) -> Issuer | None:
                return registered.get(issuer)

            def resolve_client_public_key(self, client: Issuer) -> Any:
                return KeySet([import_key(client.public_key, client.key_type)])

            def authenticate_user(self, subject: str) -> str | None:
                known = {u for i in registered.values() for u in i.users}
                return subject if subject in known else None

            def has_granted_permission(self, client: Issuer, user: str) -> bool:
                return user in client.users

            def get_audiences(self) -> list[str]:
                return accepted

        server.register_grant(Grant)
        self.server = AuthlibJwtBearer(token_url)
        answers = self.server.answers

        @app.post("/token")
        def token() -> Any:
            response = server.create_token_response()
            answers.append((response.status_code, response.get_json(silent=True) or {}))
            return response

        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
