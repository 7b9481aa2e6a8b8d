"""DPoP (RFC 9449): proofs of possession for token requests and API calls.

A profile with ``dpop: true`` holds a key pair: generated once per process (per profile and
algorithm) by default, or loaded from ``dpop_key`` so that a fleet sharing tokens shares the
key too. Every token request carries a fresh proof (``DPoP`` header: ``typ: dpop+jwt``, the
public ``jwk``, ``htm``, ``htu`` without query or fragment, ``iat``, a random ``jti``, and the
server's ``nonce`` once it asked for one); an API call's proof also carries ``ath``, the hash
of the access token. A server's ``use_dpop_nonce`` answer is retried once with the nonce it
sent, and the nonce is remembered per server (scheme, host and port).

The key's JWK thumbprint (RFC 7638) is part of the profile's cache key: a token bound to one
key is never served to a process holding another. Signing goes through
:mod:`tokenrack.auth.signing` (the ``tokenrack[jwt]`` extra); the rest is standard library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tokenrack.auth.signing import (
    KeyMaterialError,
    SigningKey,
    generate_key,
    load_private_key,
    public_jwk,
    sign_jwt,
)
from tokenrack.oauth.message import HttpResponse, TokenRequest
from tokenrack.oauth.provider import TokenFlow
from tokenrack.token import Token
from tokenrack.util.log import get_logger

__all__ = [
    "DEFAULT_ALGORITHM",
    "DPOP_ALGORITHMS",
    "DPoP",
    "DPoPKey",
    "NonceStore",
    "access_token_hash",
    "htu",
    "is_nonce_challenge",
    "jwk_thumbprint",
    "process_key",
]

DEFAULT_ALGORITHM = "ES256"
"""The proof algorithm when a profile names none (the one every DPoP server supports)."""

DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "EdDSA")
"""Algorithms a profile may choose with ``dpop_alg``."""

logger = get_logger(__name__)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """The JWK SHA-256 thumbprint (RFC 7638 §3): ``jkt`` in ``cnf`` (RFC 9449 §6)."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    text = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(text.encode()).digest())


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    return _b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def htu(url: str) -> str:
    """The ``htu`` of ``url``: the URL without its query and fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class DPoPKey:
    """A DPoP key pair: the private key (never shown) and its public JWK and thumbprint.

    Attributes:
        algorithm: The JWS ``alg`` of its proofs.
        jwk: The public JWK put in each proof's header.
        thumbprint: Its RFC 7638 thumbprint, which a server puts in ``cnf.jkt``.
        ephemeral: True for a key generated in this process (never shared with another).
    """

    __slots__ = ("_key", "algorithm", "ephemeral", "jwk", "thumbprint")

    def __init__(self, key: SigningKey, *, ephemeral: bool) -> None:
        # No kid in a proof: the jwk header names the key (RFC 9449 §4.2).
        self._key = SigningKey(key.key, key.algorithm)
        self.algorithm = key.algorithm
        self.jwk = public_jwk(key)
        self.thumbprint = jwk_thumbprint(self.jwk)
        self.ephemeral = ephemeral

    def __repr__(self) -> str:
        return f"DPoPKey(algorithm={self.algorithm!r}, thumbprint={self.thumbprint!r})"

    @classmethod
    def generate(cls, algorithm: str = DEFAULT_ALGORITHM) -> DPoPKey:
        """A new key, held in this process's memory only.

        Raises:
            KeyMaterialError: ``algorithm`` cannot sign a proof.
        """
        return cls(generate_key(_checked(algorithm)), ephemeral=True)

    @classmethod
    def load(cls, material: str, algorithm: str | None = None) -> DPoPKey:
        """A key from PEM or JWK text (``dpop_key``).

        Raises:
            KeyMaterialError: Not a usable private key, or ``algorithm`` does not fit it;
                the message never quotes the material.
        """
        key = load_private_key(material, algorithm=algorithm)
        _checked(key.algorithm)
        return cls(key, ephemeral=False)

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        now: float | None = None,
    ) -> str:
        """A fresh proof for one request: ``htm``, ``htu``, ``iat``, ``jti`` (+ nonce, ath)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": htu(url),
            "iat": int(time.time() if now is None else now),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        return sign_jwt(claims, self._key, headers={"typ": "dpop+jwt", "jwk": self.jwk})


def _checked(algorithm: str) -> str:
    if algorithm not in DPOP_ALGORITHMS:
        raise KeyMaterialError(
            f"{algorithm} cannot sign DPoP proofs (use one of {', '.join(DPOP_ALGORITHMS)})"
        )
    return algorithm


_PROCESS_KEYS: dict[tuple[str, str], DPoPKey] = {}
_PROCESS_LOCK = threading.Lock()


def process_key(scope: str, algorithm: str = DEFAULT_ALGORITHM) -> DPoPKey:
    """This process's key for ``scope`` (a profile) and ``algorithm``, generated once.

    Kept for the process's life, so a registry rebuilt (a reload, a new ``Registry``) keeps
    the key its cached tokens are bound to.

    Raises:
        KeyMaterialError: ``algorithm`` cannot sign a proof.
    """
    with _PROCESS_LOCK:
        key = _PROCESS_KEYS.get((scope, algorithm))
        if key is None:
            key = _PROCESS_KEYS[(scope, algorithm)] = DPoPKey.generate(algorithm)
        return key


class NonceStore:
    """The latest ``DPoP-Nonce`` each server sent, by origin (thread-safe)."""

    __slots__ = ("_lock", "_nonces")

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NonceStore(servers={len(self._nonces)})"

    def get(self, url: str) -> str | None:
        """The nonce to send to ``url``'s server, if it gave one."""
        with self._lock:
            return self._nonces.get(_origin(url))

    def remember(self, url: str, nonce: str | None) -> None:
        """Keep ``nonce`` for ``url``'s server (an empty or absent nonce changes nothing)."""
        if nonce:
            with self._lock:
                self._nonces[_origin(url)] = nonce


def is_nonce_challenge(status: int, headers: Mapping[str, str], body: bytes = b"") -> bool:
    """Whether an answer asks for a proof with the server's nonce (RFC 9449 §8, §9).

    A token endpoint answers 400 with ``error: use_dpop_nonce``; a resource server 401 with
    ``WWW-Authenticate: DPoP error="use_dpop_nonce"``. Either way, with a ``DPoP-Nonce``.
    Header names are compared in lower case.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if not lowered.get("dpop-nonce"):
        return False
    if status == 401 and "use_dpop_nonce" in lowered.get("www-authenticate", ""):
        return True
    if status not in (400, 401):
        return False
    try:
        error = json.loads(body or b"{}").get("error")
    except (ValueError, AttributeError):
        return False
    return bool(error == "use_dpop_nonce")


class DPoP:
    """A profile's DPoP: its key, the nonces servers gave it, and proofs on demand.

    Args:
        key: The profile's key.
        profile: The profile's name, for messages.
    """

    __slots__ = ("_warned", "key", "nonces", "profile")

    def __init__(self, key: DPoPKey, *, profile: str) -> None:
        self.key = key
        self.profile = profile
        self.nonces = NonceStore()
        self._warned = False

    def __repr__(self) -> str:
        return f"DPoP(profile={self.profile!r}, key={self.key!r})"

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A fresh proof for ``method url`` with the server's remembered nonce, if any."""
        return self.key.proof(
            method,
            url,
            nonce=nonce if nonce is not None else self.nonces.get(url),
            access_token=access_token,
        )

    def sign_request(self, request: TokenRequest) -> TokenRequest:
        """``request`` with a fresh ``DPoP`` header (called for every attempt)."""
        return request.with_header("DPoP", self.proof(request.method, request.url))

    def learn(self, url: str, response: HttpResponse) -> None:
        """Remember the nonce an answer from ``url``'s server carries, if any."""
        self.nonces.remember(url, response.header("dpop-nonce"))

    def flow(self, inner: TokenFlow) -> TokenFlow:
        """``inner`` with nonces learnt and one retry of a ``use_dpop_nonce`` refusal."""
        request = next(inner)
        while True:
            response = yield request
            self.learn(request.url, response)
            if is_nonce_challenge(response.status, response.headers, response.body):
                # The same request again; the proof is made afresh, now with the nonce.
                response = yield replace(request)
                self.learn(request.url, response)
            try:
                request = inner.send(response)
            except StopIteration as done:
                token: Token = done.value
                self._check_type(token)
                return token

    def _check_type(self, token: Token) -> None:
        if token.token_type.lower() == "dpop" or self._warned:
            return
        self._warned = True
        logger.warning(
            "profile %s: dpop is on but the server issued a %s token, not a DPoP-bound one; "
            "it is used as the server says (its API calls carry no proof)",
            self.profile,
            token.token_type,
        )
