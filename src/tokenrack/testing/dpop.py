"""DPoP (RFC 9449) as a strict server checks it: a personality and a resource server.

:class:`DPoPVerifier` checks a proof the way RFC 9449 §4.3 asks (``typ``, ``alg``, a public
``jwk``, the signature, ``htm``, ``htu``, ``iat``, a ``jti`` never seen before, the server's
``nonce``, and ``ath`` for an API call), on cryptography's primitives, not on PyJWT (the
library signs with PyJWT; the check is an independent implementation).

:class:`DPoPPersonality` is a token endpoint that refuses a request without a valid proof,
asks once for its nonce (``use_dpop_nonce``) and issues ``token_type: DPoP`` tokens bound to
the proof's key (``cnf.jkt``, in :attr:`DPoPPersonality.bindings`; in the token itself with
``token_format="jwt"``). :class:`DPoPResourceServer` is an API on loopback that accepts only
``Authorization: DPoP`` with a proof for that key, and challenges for its own nonce::

    personality = DPoPPersonality()
    with TokenEmulator(personality=personality) as emulator, DPoPResourceServer(personality) as api:
        ...  # a profile with dpop: true, then requests.get(api.url + "/data", auth=BearerAuth(…))
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tokenrack.oauth.response import b64url_decode
from tokenrack.testing.assertions import AssertionError_, _check_signature, _jwk_public_key
from tokenrack.testing.personality import Exchange, Personality
from tokenrack.testing.values import Answer, EmulatorClient, error_answer

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["DPoPPersonality", "DPoPResourceServer", "DPoPVerifier", "ProofError", "thumbprint"]

_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


class ProofError(ValueError):
    """A DPoP proof is refused; the message says why.

    Attributes:
        reason: ``missing``, ``malformed``, ``typ``, ``alg``, ``jwk``, ``signature``,
            ``htm``, ``htu``, ``iat``, ``replay``, ``nonce`` or ``ath``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (written again here, on purpose)."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    names = members.get(str(jwk.get("kty")))
    if names is None:
        raise ProofError(f"unsupported jwk kty {jwk.get('kty')!r}", reason="jwk")
    text = "{" + ",".join(f'"{name}":{json.dumps(str(jwk[name]))}' for name in names) + "}"
    return _b64(hashlib.sha256(text.encode()).digest())


def _target(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


class DPoPVerifier:
    """Checks proofs for one server: keeps the ``jti`` seen, and its current nonce.

    Args:
        max_age: Seconds a proof's ``iat`` may lie in the past (or the future).
    """

    def __init__(self, *, max_age: float = 60.0) -> None:
        self.max_age = max_age
        self.nonce = secrets.token_urlsafe(12)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        require_nonce: bool = False,
    ) -> str:
        """Check ``proof`` for ``method url``; return its key's thumbprint.

        Raises:
            ProofError: The first check that fails (a nonce last, after the signature).
        """
        if not proof:
            raise ProofError("a DPoP proof is required", reason="missing")
        parts = proof.split(".")
        if len(parts) != 3:
            raise ProofError("the proof is not a compact JWS", reason="malformed")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            raise ProofError("the proof does not decode", reason="malformed") from None
        if header.get("typ") != "dpop+jwt":
            raise ProofError("typ must be dpop+jwt", reason="typ")
        alg = header.get("alg")
        if alg not in _ALGORITHMS:
            raise ProofError(f"alg {alg!r} is not accepted", reason="alg")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & set(jwk):
            raise ProofError("jwk must be a public key", reason="jwk")
        try:
            key = _jwk_public_key(jwk)
            _check_signature(alg, f"{parts[0]}.{parts[1]}".encode(), signature, key)
        except AssertionError_ as error:
            raise ProofError(str(error), reason="signature") from None
        except (KeyError, ValueError):
            raise ProofError("jwk is not a usable public key", reason="jwk") from None
        self._check_claims(claims, method, url, access_token, require_nonce)
        return thumbprint(jwk)

    def _check_claims(
        self,
        claims: Mapping[str, Any],
        method: str,
        url: str,
        access_token: str | None,
        require_nonce: bool,
    ) -> None:
        if claims.get("htm") != method.upper():
            raise ProofError(f"htm must be {method.upper()}", reason="htm")
        htu = claims.get("htu")
        if not isinstance(htu, str) or _target(htu) != _target(url):
            raise ProofError("htu does not name this endpoint", reason="htu")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or abs(time.time() - iat) > self.max_age:
            raise ProofError("iat is missing or not recent", reason="iat")
        if access_token is not None:
            expected = _b64(hashlib.sha256(access_token.encode("ascii")).digest())
            if claims.get("ath") != expected:
                raise ProofError("ath does not match the access token", reason="ath")
        if require_nonce and claims.get("nonce") != self.nonce:
            raise ProofError("a nonce is required", reason="nonce")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise ProofError("jti is required", reason="malformed")
        with self._lock:
            if jti in self._seen:
                raise ProofError("jti was used before", reason="replay")
            self._seen.add(jti)


class DPoPPersonality(Personality):
    """A token endpoint that demands DPoP (RFC 9449 §5), as Okta's DPoP-required apps do.

    Args:
        require_nonce: Ask for the server's nonce (``use_dpop_nonce``) until a proof has it.
        max_age: Seconds a proof's ``iat`` may be off.

    Attributes:
        verifier: The proof checks, with the nonce and the ``jti`` seen.
        bindings: Each issued token -> the thumbprint of the key it is bound to.
        refusals: The reason of every proof refused, in order (``nonce`` included).
    """

    name = "dpop"

    def __init__(self, *, require_nonce: bool = True, max_age: float = 60.0) -> None:
        self.require_nonce = require_nonce
        self.verifier = DPoPVerifier(max_age=max_age)
        self.bindings: dict[str, str] = {}
        self.refusals: list[str] = []
        self._pending: dict[int, str] = {}
        self._lock = threading.Lock()

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """Refuse a request without a valid proof; ask for the nonce once."""
        try:
            jkt = self.verifier.verify(
                exchange.headers.get("dpop"),
                method="POST",
                url=emulator.url + exchange.path,
                require_nonce=self.require_nonce,
            )
        except ProofError as error:
            with self._lock:
                self.refusals.append(error.reason)
            if error.reason == "nonce":
                return Answer(
                    400,
                    {"error": "use_dpop_nonce", "error_description": str(error)},
                    {"DPoP-Nonce": self.verifier.nonce},
                )
            return error_answer(400, "invalid_dpop_proof", str(error))
        with self._lock:
            self._pending[id(exchange)] = jkt
        return None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """Issue a ``token_type: DPoP`` token bound to the proof's key."""
        answer = super().grant(emulator, exchange, client, params)
        with self._lock:
            jkt = self._pending.pop(id(exchange), None)
        if answer.status != 200 or jkt is None:
            return answer
        body = {**answer.body, "token_type": "DPoP"}
        with self._lock:
            self.bindings[str(body["access_token"])] = jkt
        headers = {**answer.headers, "DPoP-Nonce": self.verifier.nonce}
        return Answer(answer.status, body, headers)


class DPoPResourceServer:
    """An API on 127.0.0.1 that accepts a :class:`DPoPPersonality`'s tokens with proofs.

    Every request must carry ``Authorization: DPoP <token>`` and a proof for its method and
    URL with ``ath`` and this server's nonce, from the key the token is bound to; a proof
    without the nonce is answered 401 ``use_dpop_nonce`` with a ``DPoP-Nonce`` header. A
    good request gets 200 with ``{"ok": true, "path": …}``.

    Args:
        personality: The token endpoint whose tokens it accepts.
        require_nonce: Challenge for a nonce (RFC 9449 §9).

    Attributes:
        statuses: The status of every answer, in order.
        refusals: The reason of every refusal, in order.
    """

    def __init__(self, personality: DPoPPersonality, *, require_nonce: bool = True) -> None:
        self.personality = personality
        self.require_nonce = require_nonce
        self.verifier = DPoPVerifier()
        self.statuses: list[int] = []
        self.refusals: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:PORT``)."""
        assert self._server is not None, "the resource server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DPoPResourceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1, in a daemon thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, body, headers = server.decide(
                    self.command, server.url + self.path, dict(self.headers.items())
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def decide(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status, body and headers for one API request."""
        lowered = {name.lower(): value for name, value in headers.items()}
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            return self._refuse("scheme", 'DPoP error="invalid_token"')
        bound = self.personality.bindings.get(token)
        if bound is None:
            return self._refuse("token", 'DPoP error="invalid_token"')
        try:
            jkt = self.verifier.verify(
                lowered.get("dpop"),
                method=method,
                url=url,
                access_token=token,
                require_nonce=self.require_nonce,
            )
        except ProofError as error:
            if error.reason == "nonce":
                return self._refuse(
                    "nonce",
                    'DPoP error="use_dpop_nonce", error_description="a nonce is required"',
                    nonce=self.verifier.nonce,
                )
            return self._refuse(error.reason, 'DPoP error="invalid_dpop_proof"')
        if jkt != bound:
            return self._refuse("binding", 'DPoP error="invalid_token"')
        self.statuses.append(200)
        return 200, {"ok": True, "path": urlsplit(url).path}, {}

    def _refuse(
        self, reason: str, challenge: str, *, nonce: str | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.statuses.append(401)
        self.refusals.append(reason)
        headers = {"WWW-Authenticate": challenge}
        if nonce is not None:
            headers["DPoP-Nonce"] = nonce
        return 401, {"error": reason}, headers
