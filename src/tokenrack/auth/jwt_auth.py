"""``client_secret_jwt`` and ``private_key_jwt``: signed client assertions (RFC 7523 §2.2).

Each request gets a fresh assertion: ``iss`` = ``sub`` = the client id, ``aud`` = the
token URL (``assertion_audience``: ``token_endpoint``, the default; ``issuer``, as RFC
7523bis asks; or a URL), a unique ``jti``, ``iat``/``nbf`` now less 30 s (for clock skew)
and ``exp`` ``assertion_lifetime`` seconds after ``iat`` (300 by default).
``assertion_typ: client-authentication+jwt`` sets the header ``typ`` RFC 7523bis defines
(servers in its strict mode require it; others may refuse it, so it is opt-in). The core
authenticates every attempt afresh, so a retry never replays an assertion.
``private_key_jwt`` needs the ``tokenrack[jwt]`` extra; ``client_secret_jwt`` (HMAC) needs
nothing more.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.auth.material import material_origin, read_material
from tokenrack.auth.methods import AuthMethod, ClientCredentials
from tokenrack.auth.signing import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_ASSERTION_LIFETIME,
    HMAC_ALGORITHMS,
    JWT_EXTRA,
    KeyMaterialError,
    SigningKey,
    certificate_chain,
    certificate_thumbprint,
    client_assertion,
    hmac_key,
    load_private_key,
)
from tokenrack.errors import ConfigError, without_frames
from tokenrack.oauth.message import TokenRequest
from tokenrack.secret.value import Secret

__all__ = [
    "ASSERTION_TYPE",
    "AUDIENCE_KEYWORDS",
    "PASSPHRASE_OPTION",
    "TYPED_ASSERTION",
    "ClientSecretJwt",
    "PrivateKeyJwt",
    "assertion_audience",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Which certificate thumbprint headers to send, and the digest of each (RFC 7515 §4.1.7-8).
_THUMBPRINT_HEADERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "x5t#S256": (("x5t#S256", "sha256"),),
    "x5t": (("x5t", "sha1"),),
    "both": (("x5t#S256", "sha256"), ("x5t", "sha1")),
}

TYPED_ASSERTION = "client-authentication+jwt"
"""The ``typ`` RFC 7523bis gives client authentication assertions."""
AUDIENCE_KEYWORDS = ("token_endpoint", "issuer")

_ASSERTION_OPTIONS: Mapping[str, Any] = {
    "signing_alg": {"enum": sorted(HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS)},
    "assertion_audience": {"type": "string", "minLength": 1},
    "assertion_lifetime": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
    "assertion_typ": {"enum": ["JWT", TYPED_ASSERTION]},
}


def assertion_audience(request: TokenRequest, client: ClientCredentials) -> str:
    """The ``aud`` to sign: ``token_endpoint`` (default), ``issuer``, or the URL written.

    Raises:
        ConfigError: ``issuer`` for a profile that names no ``issuer``.
    """
    wanted = str(client.options.get("assertion_audience") or "token_endpoint")
    if wanted == "token_endpoint":
        return request.url
    if wanted == "issuer":
        issuer = client.options.get("issuer")
        if not issuer:
            raise ConfigError(
                "assertion_audience: issuer needs the profile's issuer (set issuer, or write "
                "the issuer URL as assertion_audience)",
                file=client.source,
                profile=client.profile,
                path=f"profiles.{client.profile}.assertion_audience",
            )
        return str(issuer)
    return wanted


def _with_assertion(
    request: TokenRequest, client: ClientCredentials, key: SigningKey, headers: Mapping[str, Any]
) -> TokenRequest:
    typ = client.options.get("assertion_typ")
    assertion = Secret(
        client_assertion(
            client_id=client.client_id,
            audience=assertion_audience(request, client),
            key=key,
            lifetime=float(client.options.get("assertion_lifetime", DEFAULT_ASSERTION_LIFETIME)),
            headers={**headers, "typ": typ} if typ else headers,
        )
    )
    return request.without_form(
        "client_id", "client_secret", "client_assertion", "client_assertion_type"
    ).with_form(
        ("client_id", client.client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    )


PASSPHRASE_OPTION = "private_key_passphrase"


def _key_error(
    client: ClientCredentials, key: str, error: Exception, origin: str = ""
) -> ConfigError:
    # The frames the error was raised through hold the key material (or the secret an HMAC
    # key is made of) as locals: the ConfigError is chained to the error without them.
    without_frames(error)
    where = f"{origin}: " if origin else ""
    return ConfigError(
        f"{where}{error}",
        file=client.source,
        profile=client.profile,
        path=f"profiles.{client.profile}.{key}",
    )


def _passphrase_hint(error: KeyMaterialError) -> str:
    """The error's message, with what to set when it is about a passphrase."""
    message = str(error)
    if "encrypted and no passphrase" in message:
        return (
            f"the PEM key is encrypted: set {PASSPHRASE_OPTION} "
            "(a secret: {env: …}, {file: …} or {command: …})"
        )
    if "passphrase was given" in message:
        return f"{PASSPHRASE_OPTION} is set, but the PEM key is not encrypted"
    if "passphrase is wrong" in message:
        return f"cannot decrypt the PEM key: {PASSPHRASE_OPTION} is wrong"
    return message


def _load_key(
    secret: Secret, options: Mapping[str, Any], passphrase: Secret | None, used_by: str
) -> SigningKey:
    """The signing key in ``secret``'s PEM or JWK (or the file it names).

    The PEM text and the passphrase exist unwrapped only in this frame and those below it,
    whose locals :func:`_key_error` drops from any error they raise.

    Raises:
        KeyMaterialError: Not a usable private key, a missing or wrong passphrase, or a key
            that does not fit ``signing_alg``.
        ValueError: Neither material nor a readable file.
    """
    return load_private_key(
        read_material(secret.reveal(), what="private_key", used_by=used_by),
        algorithm=options.get("signing_alg"),
        key_id=options.get("key_id"),
        passphrase=passphrase.reveal() if passphrase is not None else None,
    )


class ClientSecretJwt(AuthMethod):
    """``client_secret_jwt``: an assertion signed with HMAC over the client secret."""

    name: ClassVar[str] = "client_secret_jwt"
    options_schema: ClassVar[Mapping[str, Any]] = _ASSERTION_OPTIONS
    required_options: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    # requires_extra stays None: HMAC needs only the standard library.

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add ``client_assertion`` signed with HS256 (or ``signing_alg``)."""
        if client.client_secret is None:
            raise ConfigError(
                "client_secret_jwt needs client_secret",
                profile=client.profile,
                path="client_secret",
            )
        try:
            key = hmac_key(
                client.client_secret.reveal(), str(client.options.get("signing_alg", "HS256"))
            )
        except KeyMaterialError as error:
            raise _key_error(client, "signing_alg", error) from None
        return _with_assertion(request, client, key, {})


class PrivateKeyJwt(AuthMethod):
    """``private_key_jwt``: an assertion signed with the client's private key.

    Profile keys: ``private_key`` (PEM or JWK: a path, a secret reference, or inline),
    ``private_key_passphrase`` (a secret, for an encrypted PEM key), ``key_id`` (else the
    JWK's ``kid``), ``signing_alg`` (else the key's natural one),
    ``certificate`` (adds ``x5t#S256``, for servers that identify the key by certificate,
    as Microsoft Entra does), ``thumbprint_header`` (``x5t#S256``, the default; ``x5t``,
    the SHA-1 thumbprint older servers key by; or ``both``), ``send_certificate_chain``
    (adds ``x5c``, every certificate in ``certificate``: Entra's subject name + issuer
    authentication), ``assertion_audience``, ``assertion_lifetime``, ``assertion_typ``.
    """

    name: ClassVar[str] = "private_key_jwt"
    options_schema: ClassVar[Mapping[str, Any]] = {
        **_ASSERTION_OPTIONS,
        "private_key": {},
        PASSPHRASE_OPTION: {},
        "certificate": {},
        "thumbprint_header": {"enum": sorted(_THUMBPRINT_HEADERS)},
        "send_certificate_chain": {"type": "boolean"},
        "key_id": {"type": "string", "minLength": 1},
    }
    required_options: ClassVar[tuple[str, ...]] = ("client_id", "private_key")
    secret_options: ClassVar[frozenset[str]] = frozenset(
        {"private_key", PASSPHRASE_OPTION, "certificate"}
    )
    requires_extra: ClassVar[str | None] = JWT_EXTRA

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[SigningKey, dict[str, Any]]] = {}

    def _signing(self, client: ClientCredentials) -> tuple[SigningKey, dict[str, Any]]:
        secret = client.secrets.get("private_key")
        if secret is None:
            raise ConfigError(
                "private_key_jwt needs private_key", profile=client.profile, path="private_key"
            )
        certificate = client.secrets.get("certificate")
        passphrase = client.secrets.get(PASSPHRASE_OPTION)
        identity = hashlib.sha256(
            "\0".join(
                [
                    secret.reveal(),
                    passphrase.reveal() if passphrase else "",
                    certificate.reveal() if certificate else "",
                    str(client.options.get("signing_alg")),
                    str(client.options.get("key_id")),
                    str(client.options.get("thumbprint_header")),
                    str(client.options.get("send_certificate_chain")),
                ]
            ).encode()
        ).hexdigest()
        with self._lock:
            cached = self._loaded.get(identity)
        if cached is not None:
            return cached
        used_by = f"profiles.{client.profile}.private_key"
        try:
            key = _load_key(secret, client.options, passphrase, used_by)
        except KeyMaterialError as error:
            origin = material_origin(client.options.get("private_key"), secret)
            hinted = KeyMaterialError(_passphrase_hint(error))
            raise _key_error(client, "private_key", hinted, origin) from None
        except ValueError as error:
            raise _key_error(client, "private_key", error) from None
        headers: dict[str, Any] = {}
        if client.options.get("send_certificate_chain") and certificate is None:
            raise ConfigError(
                "send_certificate_chain sends the certificates in certificate (x5c): set "
                "certificate to the PEM chain, the client's certificate first",
                file=client.source,
                profile=client.profile,
                path=f"profiles.{client.profile}.certificate",
            )
        if certificate is not None:
            try:
                pem = read_material(certificate.reveal(), what="certificate")
                wanted = str(client.options.get("thumbprint_header", "x5t#S256"))
                for header, digest in _THUMBPRINT_HEADERS[wanted]:
                    headers[header] = certificate_thumbprint(pem, digest=digest)
                if client.options.get("send_certificate_chain"):
                    headers["x5c"] = certificate_chain(pem)
            except KeyMaterialError as error:
                origin = material_origin(client.options.get("certificate"), certificate)
                raise _key_error(client, "certificate", error, origin) from None
            except ValueError as error:
                raise _key_error(client, "certificate", error) from None
        with self._lock:
            # Rotated material replaces the old entry rather than piling up.
            self._loaded = {identity: (key, headers)}
        return key, headers

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Add ``client_assertion`` signed with the private key."""
        key, headers = self._signing(client)
        return _with_assertion(request, client, key, headers)
