"""The emulator's values: the clients it accepts, what it records, and the answers it sends.

Plain frozen data shared by the emulator, its request handler, its client-authentication
checks and every :class:`~tokenrack.testing.personality.Personality`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASSERTION_TYPE",
    "Answer",
    "EmulatorClient",
    "PeerCertificate",
    "RecordedRequest",
    "Verdict",
    "error_answer",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` of a JWT client assertion (RFC 7523 §2.2)."""


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
        digest = hashlib.sha256(der).digest()
        return cls(
            subject=certificate.subject.rfc4514_string(),
            thumbprint=base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"),
        )


@dataclass(slots=True)
class Answer:
    """An answer the emulator sends.

    Attributes:
        status: The HTTP status.
        body: The JSON body.
        headers: Extra response headers.
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_answer(status: int, error: str, description: str, **headers: str) -> Answer:
    """An RFC 6749 §5.2 error answer: ``error`` and ``error_description``, plus ``headers``."""
    return Answer(status, {"error": error, "error_description": description}, dict(headers))


Verdict = tuple[EmulatorClient | None, str | None, Answer | None]
"""The outcome of client authentication: the client, the method it used, or a refusal."""
