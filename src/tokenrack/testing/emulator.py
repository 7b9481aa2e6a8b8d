"""A real OAuth 2.0 token endpoint on loopback, for demos and tests.

:class:`TokenEmulator` serves HTTP (or HTTPS, given an ``ssl.SSLContext``) on 127.0.0.1 and
a free port, checks client credentials strictly (RFC 6749 §2.3.1 Basic decoding, or the
body; never both), the grant type, scopes and audience; issues opaque or JWT-shaped tokens;
records every request; and injects faults on demand: latency, a gate that holds answers
until released, status sequences with ``Retry-After``, malformed bodies, connection resets,
hangs, and answers dribbled a byte at a time (body or headers). Standard library only, so it
runs anywhere tokenrack does.

The pieces live in their own modules: the values in :mod:`~tokenrack.testing.values`, the
faults in :mod:`~tokenrack.testing.faults`, client authentication in
:mod:`~tokenrack.testing.client_auth`, the grant checks in :mod:`~tokenrack.testing.grant`
and the HTTP server in :mod:`~tokenrack.testing.server`. A
:class:`~tokenrack.testing.personality.Personality` uses the emulator through its public
hooks: :meth:`TokenEmulator.authenticate_client`, :meth:`TokenEmulator.find_client`,
:meth:`TokenEmulator.first_use`, :meth:`TokenEmulator.grant` and
:meth:`TokenEmulator.issue_token`.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tokenrack.testing import client_auth, grant
from tokenrack.testing.faults import Fault
from tokenrack.testing.server import EmulatorServer
from tokenrack.testing.values import (
    ASSERTION_TYPE,
    Answer,
    EmulatorClient,
    PeerCertificate,
    RecordedRequest,
    Verdict,
)

if TYPE_CHECKING:
    from tokenrack.testing.personality import Personality

__all__ = [
    "ASSERTION_TYPE",
    "EmulatorClient",
    "Fault",
    "PeerCertificate",
    "RecordedRequest",
    "TokenEmulator",
]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenEmulator:
    """A token endpoint on 127.0.0.1; use as a context manager or call start()/stop().

    Args:
        clients: Clients accepted; a default ``test-client``/``test-secret`` when None.
        expires_in: Lifetime to announce; a string is sent as a string, None omits it.
        token_format: ``opaque`` or ``jwt`` (unsigned, JWT-shaped, with ``exp``).
        token_type: The ``token_type`` to announce (``bearer`` tests normalisation).
        token_prefix: Prefix of issued tokens (recognisable in leak tests).
        basic_decoding: ``rfc6749`` (form-decode id and secret, as the RFC says) or ``raw``.
        token_path: Path of the token endpoint.
        ssl_context: Serve HTTPS with this server context (make it require client
            certificates for mutual TLS).
        latency: Seconds to wait before every answer.
        issuer: The issuer its metadata states: a URL, or a path added to its base URL
            (default: its base URL).
        port: The port to listen on (0: a free one).
        personality: A vendor's dialect (the vendor pack's are in
            ``tokenrack_providers.testing``): where the endpoint lives, how clients must
            authenticate, what is refused and how answers look. The default is plain
            RFC 6749, as checked by this class.

    Set :attr:`request_log` to a callable taking one line of text to hear of every request
    as it is answered (a consumed fault gets its own line): method, path (without the
    query), the client id once authenticated, and the outcome (``200 ok``,
    ``401 invalid_client``, ``fault reset`` …); never a secret.
    ``tokenrack emulator --log-requests`` prints these lines to stderr.

    Set :attr:`date_offset` to seconds to add to the clock its ``Date`` header shows (a
    gateway whose clock is wrong); the tokens' ``exp`` keeps the true clock.

    Metadata (RFC 8414 and OIDC discovery) is served once ``metadata`` is set to a dict of
    extra fields (``{}`` is enough; ``token_endpoint_auth_methods_supported``,
    ``mtls_endpoint_aliases`` …); ``metadata_flavours`` picks which well-known paths answer.
    """

    def __init__(
        self,
        clients: Iterable[EmulatorClient] | None = None,
        *,
        expires_in: int | float | str | None = 3600,
        token_format: str = "opaque",
        token_type: str = "Bearer",
        token_prefix: str = "emu_",
        basic_decoding: str = "rfc6749",
        token_path: str = "/oauth/token",
        ssl_context: ssl.SSLContext | None = None,
        latency: float = 0.0,
        issuer: str | None = None,
        port: int = 0,
        personality: Personality | None = None,
    ) -> None:
        default = [EmulatorClient("test-client", "test-secret")]
        self.clients = {c.client_id: c for c in (default if clients is None else clients)}
        self.expires_in = expires_in
        self.token_format = token_format
        self.token_type = token_type
        self.token_prefix = token_prefix
        self.basic_decoding = basic_decoding
        self.token_path = token_path
        self.latency = latency
        self.date_offset = 0.0
        self.request_log: Callable[[str], None] | None = None
        if personality is None:
            # Imported here: the personality module builds on this one's hooks.
            from tokenrack.testing.personality import Personality

            personality = Personality()
        self.personality = personality
        self.extra_response: dict[str, Any] = {}
        self.metadata: dict[str, Any] | None = None
        self.metadata_flavours: frozenset[str] = frozenset({"rfc8414", "oidc"})
        self.metadata_requests = 0
        self.bytes_streamed = 0
        self.extra_audiences: set[str] = set()
        self._issuer = issuer
        self._port = port
        self._seen_jti: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._issued: list[str] = []
        self._stopping = threading.Event()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TokenEmulator:
        """Listen on 127.0.0.1 (and a free port unless one was given), serving in a thread."""
        server = EmulatorServer(("127.0.0.1", self._port), self)
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="tokenrack-emulator",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (hanging requests are let go)."""
        self._stopping.set()
        self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint's URL: where its personality serves it (``token_path`` by default)."""
        return self.url + self.personality.token_path(self)

    @property
    def issuer(self) -> str:
        """The issuer its metadata states (its base URL, plus ``issuer`` if that is a path)."""
        if self._issuer is None:
            return self.url
        return self.url + self._issuer if self._issuer.startswith("/") else self._issuer

    # -- set-up and inspection -----------------------------------------------------------

    def add_client(self, client: EmulatorClient) -> None:
        """Accept another client (or replace one with the same id)."""
        with self._lock:
            self.clients[client.client_id] = client

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each of the next requests consumes one, in order."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests reached the token endpoint."""
        with self._lock:
            return len(self._requests)

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued, in order."""
        with self._lock:
            return list(self._issued)

    def reset(self) -> None:
        """Forget recorded requests, issued tokens and queued faults."""
        with self._lock:
            self._requests.clear()
            self._issued.clear()
            self._faults.clear()

    # -- hooks for personalities -------------------------------------------------------

    def authenticate_client(
        self,
        headers: Mapping[str, str],
        params: Sequence[tuple[str, str]],
        peer: PeerCertificate | None = None,
    ) -> Verdict:
        """Authenticate the client as RFC 6749 §2.3, RFC 7523 §3 and RFC 8705 §2 say.

        Exactly one method may be used (two are ``invalid_request``). A JWT assertion's
        ``jti`` is recorded, so authenticate each request once.

        Args:
            headers: The request's headers, names lower-cased.
            params: The token request's parameters.
            peer: The TLS client certificate presented, if any.

        Returns:
            The client and the method it used, or None, the method tried and the refusal.
        """
        return client_auth.authenticate(self, headers, params, peer)

    def find_client(self, client_id: str) -> EmulatorClient | None:
        """The registered client with ``client_id``, or None."""
        with self._lock:
            return self.clients.get(client_id)

    def first_use(self, jti: str) -> bool:
        """Record an assertion's ``jti``; False when it was seen before (a replay)."""
        with self._lock:
            replayed = jti in self._seen_jti
            self._seen_jti.add(jti)
        return not replayed

    def assertion_audiences(self) -> set[str]:
        """The ``aud`` values a client assertion may name: token URL, issuer, extras."""
        return {self.token_url, self.issuer, *self.extra_audiences}

    def grant(self, client: EmulatorClient, params: Sequence[tuple[str, str]]) -> Answer:
        """Check the grant type, scopes and audience for ``client``, then issue a token.

        Args:
            client: The authenticated client.
            params: The token request's parameters (``grant_type``, ``scope``,
                ``audience``).

        Returns:
            The RFC 6749 §5.1 answer (with ``extra_response`` merged in), or the §5.2
            refusal.
        """
        refused = grant.refusal(client, params)
        if refused is not None:
            return refused
        scopes = (grant.param(params, "scope") or "").split()
        body: dict[str, Any] = {
            "access_token": self.issue_token(client, scopes, grant.param(params, "audience")),
            "token_type": self.token_type,
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if scopes:
            body["scope"] = " ".join(scopes)
        body.update(self.extra_response)
        return Answer(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def issue_token(
        self, client: EmulatorClient, scopes: Sequence[str], audience: str | None
    ) -> str:
        """A new access token for ``client``, recorded in :attr:`issued_tokens`.

        Opaque (``token_prefix`` and random text), or with ``token_format="jwt"`` an
        unsigned JWT-shaped token carrying ``sub``, ``exp``, ``scope`` and ``aud``.
        """
        if self.token_format == "jwt":
            token = self._jwt_shaped(client, scopes, audience)
        else:
            token = self.token_prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._issued.append(token)
        return token

    def _jwt_shaped(
        self, client: EmulatorClient, scopes: Sequence[str], audience: str | None
    ) -> str:
        now = int(time.time())
        try:
            lifetime = float(self.expires_in)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            lifetime = 3600.0
        claims: dict[str, Any] = {
            "iss": "tokenrack-emulator",
            "sub": client.client_id,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": secrets.token_hex(8),
            "scope": " ".join(scopes),
        }
        if audience:
            claims["aud"] = audience
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64url(json.dumps(claims).encode())}."

    # -- hooks for the request handler -------------------------------------------------

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` is called: every wait of a fault or latency ends then."""
        return self._stopping

    def record(self, recorded: RecordedRequest) -> Fault | None:
        """Record a token request; return the fault it consumes, if one is queued."""
        with self._lock:
            self._requests.append(recorded)
            return self._faults.pop(0) if self._faults else None

    def hold(self) -> None:
        """Wait before answering: while the ``gate`` is closed, then ``latency`` seconds."""
        self.gate.wait()
        if self.latency:
            self._stopping.wait(self.latency)

    def note_streamed(self, sent: int) -> None:
        """Record how many bytes a streamed fault has sent so far (``bytes_streamed``)."""
        with self._lock:
            self.bytes_streamed = sent

    def serve_metadata(self, path: str) -> dict[str, Any] | None:
        """The metadata document served at ``path`` (counted), or None if none lives there."""
        if self.metadata is None:
            return None
        issuer_path = urlsplit(self.issuer).path.rstrip("/")
        flavours = {
            f"/.well-known/oauth-authorization-server{issuer_path}": "rfc8414",
            f"{issuer_path}/.well-known/openid-configuration": "oidc",
        }
        if flavours.get(path) not in self.metadata_flavours:
            return None
        with self._lock:
            self.metadata_requests += 1
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            **self.metadata,
        }
