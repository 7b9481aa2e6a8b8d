"""``tls_client_auth`` and ``self_signed_tls_client_auth``: mutual TLS (RFC 8705 §2).

The client proves itself with its TLS client certificate; the body carries only the
``client_id``. The core sends the token request over a connection presenting the profile's
certificate (``client_cert``, ``client_key``, ``client_key_passphrase``), and no other
profile's request ever does. The two methods differ only on the server's side: a
certificate chained to a CA it trusts, or a self-signed one it has registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.auth.methods import AuthMethod, ClientCredentials
from tokenrack.oauth.message import TokenRequest

__all__ = ["SelfSignedTlsClientAuth", "TlsClientAuth"]


class TlsClientAuth(AuthMethod):
    """``tls_client_auth``: a CA-issued client certificate (RFC 8705 §2.1)."""

    name: ClassVar[str] = "tls_client_auth"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "client_cert": {},
        "client_key": {},
        "client_key_passphrase": {},
    }
    required_options: ClassVar[tuple[str, ...]] = ("client_id", "client_cert", "client_key")
    secret_options: ClassVar[frozenset[str]] = frozenset(
        {"client_cert", "client_key", "client_key_passphrase"}
    )
    requires_client_certificate: ClassVar[bool] = True

    def authenticate(self, request: TokenRequest, client: ClientCredentials) -> TokenRequest:
        """Put ``client_id`` in the body; the certificate travels in the TLS handshake."""
        return request.without_form("client_id", "client_secret").with_form(
            ("client_id", client.client_id)
        )


class SelfSignedTlsClientAuth(TlsClientAuth):
    """``self_signed_tls_client_auth``: a registered self-signed certificate (RFC 8705 §2.2)."""

    name: ClassVar[str] = "self_signed_tls_client_auth"
