"""A real OAuth 2.0 token endpoint on loopback, for demos and tests.

:class:`TokenEmulator` serves HTTP (or HTTPS, given an ``ssl.SSLContext``) on 127.0.0.1 and
a free port, checks client credentials strictly (RFC 6749 §2.3.1 Basic decoding, or the
body; never both), the grant type, scopes and audience; issues opaque or JWT-shaped tokens;
records every request; and injects faults on demand: latency, a gate that holds answers
until released, status sequences with ``Retry-After``, malformed bodies, connection resets,
hangs, and answers dribbled a byte at a time (body or headers). Standard library only, so it
runs anywhere tokenrack does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

if TYPE_CHECKING:
    from tokenrack.testing.personality import Personality

__all__ = ["EmulatorClient", "Fault", "PeerCertificate", "RecordedRequest", "TokenEmulator"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_SIGNATURE_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True, slots=True)
class EmulatorClient:
    """A client the emulator accepts.

    Attributes:
        client_id: Its id.
        client_secret: Its secret ("" for a client without one).
        auth_methods: How it may authenticate; None allows every method it has material
            for (a secret: basic, post, client_secret_jwt; ``public_key``:
            private_key_jwt; ``tls_subject``: tls_client_auth; ``tls_thumbprint``:
            self_signed_tls_client_auth). ``none`` must be allowed explicitly.
        scopes: Scopes it may ask for; None allows any.
        audiences: Audiences it may ask for; None allows any (and none).
        require_audience: Refuse a request without ``audience``.
        grant_types: Grant types it may use.
        public_key: PEM public key, certificate or public JWK that verifies its
            ``private_key_jwt`` assertions.
        x5t_s256: When set, its assertions must carry this ``x5t#S256`` header.
        tls_subject: The subject DN (RFC 4514, e.g. ``CN=svc``) its CA-issued client
            certificate must have (``tls_client_auth``).
        tls_thumbprint: The ``x5t#S256`` of its registered self-signed certificate
            (``self_signed_tls_client_auth``).
    """

    client_id: str
    client_secret: str = ""
    auth_methods: frozenset[str] | None = None
    scopes: frozenset[str] | None = None
    audiences: frozenset[str] | None = None
    require_audience: bool = False
    grant_types: frozenset[str] = frozenset({"client_credentials"})
    public_key: str | None = None
    x5t_s256: str | None = None
    tls_subject: str | None = None
    tls_thumbprint: str | None = None

    def allows(self, method: str) -> bool:
        """Whether this client may authenticate with ``method``."""
        if self.auth_methods is not None:
            return method in self.auth_methods
        material = {
            "client_secret_basic": bool(self.client_secret),
            "client_secret_post": bool(self.client_secret),
            "client_secret_jwt": bool(self.client_secret),
            "private_key_jwt": self.public_key is not None,
            "tls_client_auth": self.tls_subject is not None,
            "self_signed_tls_client_auth": self.tls_thumbprint is not None,
        }
        return material.get(method, False)


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour, consumed by one request (see the constructors)."""

    kind: str
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def http(
        cls,
        status: int,
        body: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with ``status`` and a JSON ``body`` (e.g. 503 with ``Retry-After``)."""
        payload = json.dumps(body if body is not None else {"error": "server_error"}).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls("http", status=status, body=payload, headers=merged)

    @classmethod
    def raw(
        cls, body: bytes, *, content_type: str = "application/json", status: int = 200
    ) -> Fault:
        """Answer with exactly ``body`` (an HTML page, truncated JSON, …)."""
        return cls("http", status=status, body=body, headers={"Content-Type": content_type})

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection with a TCP reset instead of answering."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Accept the request and say nothing for ``seconds`` (or until the emulator stops)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, ``seconds`` late."""
        return cls("delay", seconds=seconds)

    @classmethod
    def huge(cls, size: int) -> Fault:
        """Answer 200 with a body of ``size`` bytes, streamed (never held in memory).

        ``TokenEmulator.bytes_streamed`` then says how much the client took before it
        closed the connection.
        """
        return cls("huge", status=200, seconds=float(size))

    @classmethod
    def dribble(cls, body: bytes, *, every: float = 1.0) -> Fault:
        """Answer 200, then send ``body`` one byte every ``every`` seconds (slowloris)."""
        return cls("dribble", status=200, body=body, seconds=every)

    @classmethod
    def dribble_headers(cls, body: bytes, *, every: float = 1.0) -> Fault:
        """Send the status line and headers one byte every ``every`` seconds, then ``body``.

        No single read waits long, so a read timeout never fires. ``bytes_streamed`` counts
        the bytes of the head sent before the client left.
        """
        return cls("dribble_headers", status=200, body=body, seconds=every)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the emulator received.

    Attributes:
        method: HTTP method.
        path: Path without the query.
        query: Query parameters, in order.
        headers: Headers, names lower-cased.
        form: Body parameters, in order (form or JSON).
        client_id: The client that authenticated, if any did.
        auth_method: How it authenticated (``client_secret_basic``, ``private_key_jwt``, …).
        received_at: Monotonic time of arrival.
        client_certificate: The ``x5t#S256`` of the TLS client certificate presented, if any.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    form: tuple[tuple[str, str], ...]
    client_id: str | None
    auth_method: str | None
    received_at: float
    client_certificate: str | None = None

    def form_value(self, name: str) -> str | None:
        """The first value of form parameter ``name``."""
        return next((v for k, v in self.form if k == name), None)

    def form_values(self, name: str) -> list[str]:
        """Every value of form parameter ``name``."""
        return [v for k, v in self.form if k == name]


@dataclass(slots=True)
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, description: str, **headers: str) -> _Answer:
    return _Answer(status, {"error": error, "error_description": description}, dict(headers))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unpadded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _first(form: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in form if k == name), None)


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The TLS client certificate a request came with.

    Attributes:
        subject: Its subject DN in RFC 4514 form (``CN=svc``).
        thumbprint: Its ``x5t#S256``.
    """

    subject: str
    thumbprint: str

    @classmethod
    def from_der(cls, der: bytes) -> PeerCertificate:
        """Read a DER certificate."""
        from cryptography import x509

        certificate = x509.load_der_x509_certificate(der)
        return cls(
            subject=certificate.subject.rfc4514_string(),
            thumbprint=_b64url(hashlib.sha256(der).digest()),
        )


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
        personality: A vendor's dialect (:mod:`tokenrack.testing.personalities`): where the
            endpoint lives, how clients must authenticate, what is refused and how answers
            look. The default is plain RFC 6749, as checked by this class.

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
        if personality is None:
            # Imported here: personalities build on this module's checks and answers.
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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TokenEmulator:
        """Listen on 127.0.0.1 (and a free port unless one was given), serving in a thread."""
        server = _Server(("127.0.0.1", self._port), _handler_for(self))
        server.daemon_threads = True
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

    # -- the endpoint ------------------------------------------------------------------

    def _record(self, recorded: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(recorded)
            return self._faults.pop(0) if self._faults else None

    def _authenticate(
        self,
        headers: Mapping[str, str],
        form: list[tuple[str, str]],
        peer: PeerCertificate | None = None,
    ) -> tuple[EmulatorClient | None, str | None, _Answer | None]:
        """Return the client, the method used, or the error answer.

        RFC 6749 §2.3, RFC 7523 §3, RFC 8705 §2: exactly one method, or ``invalid_request``.
        """
        authorization = headers.get("authorization", "")
        body_id = _first(form, "client_id")
        body_secret = _first(form, "client_secret")
        assertion = _first(form, "client_assertion")
        used_basic = authorization[:6].lower() == "basic "
        if sum((used_basic, body_secret is not None, assertion is not None)) > 1:
            return (
                None,
                None,
                _error(
                    400, "invalid_request", "more than one client authentication method was used"
                ),
            )
        if used_basic:
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None, None, _error(400, "invalid_request", "malformed Basic credentials")
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                return None, None, _error(400, "invalid_request", "malformed Basic credentials")
            if self.basic_decoding == "rfc6749":
                raw_id, raw_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            return self._check_client(raw_id, raw_secret, "client_secret_basic")
        if assertion is not None:
            return self._check_assertion(form, assertion, body_id)
        if body_id is not None and body_secret is not None:
            return self._check_client(body_id, body_secret, "client_secret_post")
        if body_id is not None:
            return self._check_unsecretive(body_id, peer)
        return (
            None,
            None,
            _error(
                401, "invalid_client", "no client authentication", **{"WWW-Authenticate": "Basic"}
            ),
        )

    def _client(self, client_id: str) -> EmulatorClient | None:
        with self._lock:
            return self.clients.get(client_id)

    def _check_client(
        self, client_id: str, secret: str, method: str
    ) -> tuple[EmulatorClient | None, str | None, _Answer | None]:
        client = self._client(client_id)
        challenge = (
            {"WWW-Authenticate": 'Basic realm="emulator"'} if method.endswith("basic") else {}
        )
        if (
            client is None
            or not client.client_secret
            or not secrets.compare_digest(client.client_secret.encode(), secret.encode())
        ):
            return (
                None,
                method,
                _error(401, "invalid_client", "client authentication failed", **challenge),
            )
        if not client.allows(method):
            return (
                None,
                method,
                _error(401, "invalid_client", f"this client may not use {method}", **challenge),
            )
        return client, method, None

    def _check_assertion(
        self, form: list[tuple[str, str]], assertion: str, body_id: str | None
    ) -> tuple[EmulatorClient | None, str | None, _Answer | None]:
        """``client_secret_jwt`` or ``private_key_jwt``, verified independently of PyJWT."""
        from tokenrack.testing.assertions import AssertionError_, load_public_key, verify_assertion

        if _first(form, "client_assertion_type") != ASSERTION_TYPE:
            return None, None, _error(400, "invalid_request", "unsupported client_assertion_type")
        try:
            header = json.loads(_unpadded(assertion.split(".")[0]))
            claims = json.loads(_unpadded(assertion.split(".")[1]))
            issuer = str(claims.get("iss"))
            alg = str(header.get("alg"))
        except (ValueError, IndexError, AttributeError, binascii.Error):
            return None, None, _error(401, "invalid_client", "client_assertion is not a JWT")
        method = "client_secret_jwt" if alg in _HMAC_ALGS else "private_key_jwt"
        client = self._client(issuer)
        if client is None or (body_id is not None and body_id != issuer):
            return None, method, _error(401, "invalid_client", "unknown client")
        if not client.allows(method):
            return None, method, _error(401, "invalid_client", f"this client may not use {method}")
        key: Any = (
            client.client_secret.encode()
            if method == "client_secret_jwt"
            else load_public_key(client.public_key or "")
        )
        try:
            verified = verify_assertion(
                assertion,
                key=key,
                client_id=client.client_id,
                audiences={self.token_url, self.issuer, *self.extra_audiences},
                algorithms=_HMAC_ALGS if method == "client_secret_jwt" else _SIGNATURE_ALGS,
            )
        except AssertionError_ as refused:
            return None, method, _error(401, "invalid_client", f"client_assertion: {refused}")
        if not self._first_use(verified.claims["jti"]):
            return (
                None,
                method,
                _error(401, "invalid_client", "client_assertion: jti was already used (replay)"),
            )
        if client.x5t_s256 is not None and header.get("x5t#S256") != client.x5t_s256:
            return None, method, _error(401, "invalid_client", "x5t#S256 does not match")
        return client, method, None

    def _first_use(self, jti: str) -> bool:
        """Record an assertion's ``jti``; False when it was seen before (a replay)."""
        with self._lock:
            replayed = jti in self._seen_jti
            self._seen_jti.add(jti)
        return not replayed

    def _check_unsecretive(
        self, client_id: str, peer: PeerCertificate | None
    ) -> tuple[EmulatorClient | None, str | None, _Answer | None]:
        """Mutual TLS (RFC 8705 §2), or a public client (``none``)."""
        client = self._client(client_id)
        if client is None:
            return None, None, _error(401, "invalid_client", "unknown client")
        if peer is not None and client.tls_subject is not None:
            if peer.subject == client.tls_subject and client.allows("tls_client_auth"):
                return client, "tls_client_auth", None
            return (
                None,
                "tls_client_auth",
                _error(401, "invalid_client", "client certificate subject does not match"),
            )
        if peer is not None and client.tls_thumbprint is not None:
            if peer.thumbprint == client.tls_thumbprint and client.allows(
                "self_signed_tls_client_auth"
            ):
                return client, "self_signed_tls_client_auth", None
            return (
                None,
                "self_signed_tls_client_auth",
                _error(401, "invalid_client", "client certificate is not the registered one"),
            )
        if client.allows("none"):
            return client, "none", None
        return None, None, _error(401, "invalid_client", "no client authentication")

    def _metadata(self, path: str) -> dict[str, Any] | None:
        """The metadata document served at ``path``, if metadata is on and it lives there."""
        if self.metadata is None:
            return None
        issuer_path = urlsplit(self.issuer).path.rstrip("/")
        flavours = {
            f"/.well-known/oauth-authorization-server{issuer_path}": "rfc8414",
            f"{issuer_path}/.well-known/openid-configuration": "oidc",
        }
        if flavours.get(path) not in self.metadata_flavours:
            return None
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            **self.metadata,
        }
        return document

    def _issue(self, client: EmulatorClient, scopes: list[str], audience: str | None) -> str:
        if self.token_format == "jwt":
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
            token = f"{header}.{_b64url(json.dumps(claims).encode())}."
        else:
            token = self.token_prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._issued.append(token)
        return token

    def _answer(
        self,
        headers: Mapping[str, str],
        form: list[tuple[str, str]],
        authenticated: tuple[EmulatorClient | None, str | None, _Answer | None],
    ) -> _Answer:
        client, _method, failure = authenticated
        if failure is not None:
            return failure
        assert client is not None
        grant_type = next((v for k, v in form if k == "grant_type"), None)
        if grant_type is None:
            return _error(400, "invalid_request", "grant_type is missing")
        if grant_type not in client.grant_types:
            return _error(
                400, "unsupported_grant_type", f"grant_type {grant_type} is not supported"
            )
        scope = next((v for k, v in form if k == "scope"), "")
        scopes = scope.split()
        if client.scopes is not None and not set(scopes) <= client.scopes:
            unknown = sorted(set(scopes) - client.scopes)
            return _error(400, "invalid_scope", f"scope not allowed: {' '.join(unknown)}")
        audience = next((v for k, v in form if k == "audience"), None)
        if audience is None and client.require_audience:
            return _error(400, "invalid_request", "audience is required")
        if (
            audience is not None
            and client.audiences is not None
            and audience not in client.audiences
        ):
            return _error(403, "access_denied", f"audience {audience} is not allowed")
        body: dict[str, Any] = {
            "access_token": self._issue(client, scopes, audience),
            "token_type": self.token_type,
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if scopes:
            body["scope"] = " ".join(scopes)
        body.update(self.extra_response)
        return _Answer(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 resets connections when dozens of clients arrive at once,
    # which is exactly what stampede tests and benchmarks do.
    request_queue_size = 256


def _handler_for(emulator: TokenEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tokenrack-emulator"
        # Headers and body in one segment, sent at once: otherwise Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer on a kept-alive connection.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return  # quiet: tests read the recorded requests instead

        def do_GET(self) -> None:
            document = emulator._metadata(urlsplit(self.path).path)
            if document is None:
                self._send(404, {"error": "not_found"})
                return
            with emulator._lock:
                emulator.metadata_requests += 1
            self._send(200, document)

        def _peer(self) -> PeerCertificate | None:
            connection = self.connection
            if not isinstance(connection, ssl.SSLSocket):
                return None
            der = connection.getpeercert(binary_form=True)
            return PeerCertificate.from_der(der) if der else None

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            form = _parse_body(raw, headers.get("content-type", ""))
            query = parse_qsl(parts.query, keep_blank_values=True)
            # -- personality hook: every vendor-specific decision is the personality's --
            from tokenrack.testing.personality import Exchange

            peer = self._peer()
            exchange = Exchange(parts.path, tuple(query), headers, tuple(form), peer)
            personality = emulator.personality
            if not personality.serves(emulator, parts.path):
                missing = personality.not_found(emulator, exchange)
                self._send(missing.status, missing.body, missing.headers)
                return
            # Authenticated once per request: a replayed assertion must be the client's
            # doing, never the emulator's own second look.
            verdict = personality.authenticate(emulator, exchange)
            client, method, _ = verdict
            # -- end of personality hook --
            fault = emulator._record(
                RecordedRequest(
                    method="POST",
                    path=parts.path,
                    query=tuple(query),
                    headers=headers,
                    form=tuple(form),
                    client_id=client.client_id if client else None,
                    auth_method=method if client else None,
                    received_at=time.monotonic(),
                    client_certificate=peer.thumbprint if peer else None,
                )
            )
            emulator.gate.wait()
            if emulator.latency:
                emulator._stopping.wait(emulator.latency)
            if fault is not None and self._fault(fault):
                return
            answer = personality.answer(emulator, exchange, verdict)
            self._send(answer.status, answer.body, answer.headers)

        def _fault(self, fault: Fault) -> bool:
            """Act out a fault; True when it replaced the answer."""
            if fault.kind == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return True
            if fault.kind == "hang":
                emulator._stopping.wait(fault.seconds)
                self.close_connection = True
                return True
            if fault.kind == "delay":
                emulator._stopping.wait(fault.seconds)
                return False
            if fault.kind in ("huge", "dribble"):
                self._stream(fault)
                return True
            if fault.kind == "dribble_headers":
                self._dribble_head(fault)
                return True
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(fault.body)))
            self.end_headers()
            self.wfile.write(fault.body)
            return True

        def _stream(self, fault: Fault) -> None:
            """Huge or slow bodies: written piece by piece until done or the client leaves."""
            size = int(fault.seconds) if fault.kind == "huge" else len(fault.body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            sent = 0
            chunk = b"0" * 65536
            try:
                while sent < size and not emulator._stopping.is_set():
                    if fault.kind == "huge":
                        piece = chunk[: size - sent]
                    else:
                        piece = fault.body[sent : sent + 1]
                        emulator._stopping.wait(fault.seconds)
                    self.wfile.write(piece)
                    self.wfile.flush()
                    sent += len(piece)
                    with emulator._lock:
                        emulator.bytes_streamed = sent
            except OSError:
                pass  # the client closed the connection, as it should
            self.close_connection = True

        def _dribble_head(self, fault: Fault) -> None:
            """The status line and headers a byte at a time, then the body at once."""
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(fault.body)}\r\n\r\n"
            ).encode("ascii")
            sent = 0
            try:
                # Straight to the socket: nothing is left buffered to fail again later.
                while sent < len(head):
                    if emulator._stopping.wait(fault.seconds):
                        break
                    self.connection.sendall(head[sent : sent + 1])
                    sent += 1
                    with emulator._lock:
                        emulator.bytes_streamed = sent
                else:
                    self.connection.sendall(fault.body)
            except OSError:
                pass  # the client closed the connection, as it should
            self.close_connection = True

        def _send(
            self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
        ) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _parse_body(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    media = content_type.split(";", 1)[0].strip().lower()
    text = raw.decode("utf-8", errors="replace")
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            return []
        pairs: list[tuple[str, str]] = []
        for key, value in data.items() if isinstance(data, dict) else ():
            for item in value if isinstance(value, list) else [value]:
                pairs.append((str(key), str(item)))
        return pairs
    return parse_qsl(text, keep_blank_values=True)
