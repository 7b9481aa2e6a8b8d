"""An HTTPS API on loopback that the docs' ``curl`` samples reach instead of a vendor's.

The shell samples call ``https://billing.acme.example/invoices`` with a token tokenrack
got; :func:`curlrc` points curl (through ``$HOME/.curlrc``) at this server instead, and
makes it fail (exit 22) on an error status. The server answers 200 only to a bearer token
the emulator issued, so a sample whose ``curl`` sends no token, or a wrong one, fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tokenrack.testing.tls import make_certificates


class FakeApi:
    """A one-resource HTTPS API accepting the tokens ``issued()`` returns.

    Attributes:
        seen: ``(path, authorized)`` for every request, in order.
    """

    def __init__(self, directory: Path, issued: Callable[[], list[str]]) -> None:
        self._certificates = make_certificates(directory / "api-tls")
        self._issued = issued
        self.seen: list[tuple[str, bool]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Authorization", "")
                token = header.removeprefix("Bearer ")
                authorized = header.startswith("Bearer ") and token in api._issued()
                api.seen.append((self.path, authorized))
                body = b'{"invoices": []}\n' if authorized else b'{"error": "invalid_token"}\n'
                self.send_response(200 if authorized else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base name)
                pass  # a token never reaches a log, and the test output stays quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = self._certificates.server_context()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeApi:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def curlrc(self) -> str:
        """A ``.curlrc`` sending every curl connection here, failing on an error status."""
        port = self._server.server_address[1]
        # The certificate names 127.0.0.1, not the vendor's host curl asks for: the check
        # that matters here is the token, which the server makes.
        return (
            f'connect-to = "::127.0.0.1:{port}"\ninsecure\nnoproxy = *\nfail\nsilent\nshow-error\n'
        )
