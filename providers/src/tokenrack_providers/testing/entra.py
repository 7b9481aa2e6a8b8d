"""Microsoft Entra ID (v2, v1 and B2C paths), strictly.

``.default`` scopes, certificate credentials, and Entra's error shape.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tokenrack.testing.assertions import unverified
from tokenrack.testing.emulator import EmulatorClient, TokenEmulator
from tokenrack.testing.federated import FederatedCredential
from tokenrack.testing.personality import Answer, Exchange, Personality, Verdict
from tokenrack_providers.testing.entra_certificate import (
    CertificatePolicy,
    check_certificate_assertion,
)
from tokenrack_providers.testing.entra_federated import check_entra_federated

__all__ = ["EntraPersonality"]

_V2 = re.compile(r"^/[^/]+/oauth2/v2\.0/token$")
_V1 = re.compile(r"^/[^/]+/oauth2/token$")
_B2C = re.compile(r"^/[^/]+\.onmicrosoft\.com/[^/]+/oauth2/v2\.0/token$")
_CODE = re.compile(r"^AADSTS(\d+)")
# The AADSTS code Entra gives for each RFC 6749 error the emulator's own checks produce.
_CODES = {
    "invalid_client": (7000215, "Invalid client secret provided."),
    "unsupported_grant_type": (70003, "The app requested an unsupported grant type."),
    "invalid_scope": (70011, "The provided value for the input parameter 'scope' is not valid."),
    "invalid_request": (900144, "The request body is missing a required parameter."),
}


class EntraPersonality(Personality):
    """Entra's token endpoints, v2, v1 and B2C.

    Paths: ``/{tenant}/oauth2/v2.0/token``, ``/{tenant}/oauth2/token`` (v1) and B2C's
    ``/{tenant}.onmicrosoft.com/{policy}/oauth2/v2.0/token``. v2 requires exactly one
    ``scope`` ending in ``/.default`` (``AADSTS70011`` otherwise); v1 requires ``resource``
    and answers with string lifetimes and ``expires_on``. Errors carry ``error_codes``,
    ``timestamp``, ``trace_id``, ``correlation_id`` and ``error_uri``, and a description
    that starts with the AADSTS code.

    Certificate credentials (a ``client_assertion``) are checked against the certificate
    the client registered (``EmulatorClient.public_key``): the thumbprint header must name
    it, the signature must verify with its key, ``iss`` = ``sub`` = ``client_id`` (sent in
    the body), ``aud`` = the token endpoint requested.

    Federated credentials (workload identity): with ``federated``, an assertion without a
    thumbprint header is checked against them (``entra_federated``): ``AADSTS700024`` out
    of its time range, ``AADSTS70021`` for another issuer, subject or audience.

    Args:
        certificate_algorithms: Signature algorithms accepted for certificate credentials.
        thumbprint_headers: Headers that may name the certificate (``x5t#S256``, ``x5t``).
        federated: The app registrations' federated identity credentials.
    """

    name: ClassVar[str] = "entra"

    def __init__(
        self,
        *,
        certificate_algorithms: Iterable[str] = ("RS256", "PS256"),
        thumbprint_headers: Iterable[str] = ("x5t#S256", "x5t"),
        federated: Iterable[FederatedCredential] = (),
    ) -> None:
        self.certificates = CertificatePolicy(
            frozenset(certificate_algorithms), frozenset(thumbprint_headers)
        )
        # Workload identity: an assertion without a thumbprint header is another issuer's.
        self.federated = list(federated)

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """A certificate credential as Entra checks it; any other method as the emulator does."""
        params = self.parameters(exchange)
        if (
            exchange.param("client_assertion", params) is None
            or exchange.param("client_secret", params) is not None
            or "authorization" in exchange.headers
        ):
            return super().authenticate(emulator, exchange)
        if self.federated and not _names_a_certificate(exchange.param("client_assertion", params)):
            return check_entra_federated(emulator, exchange, params, self.federated)
        return check_certificate_assertion(emulator, exchange, params, self.certificates)

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """Any tenant's v2, v1 or B2C token path."""
        return bool(_V2.match(path) or _V1.match(path) or _B2C.match(path))

    def token_path(self, emulator: TokenEmulator) -> str:
        """The v2 path of Microsoft's example tenant (any tenant is served)."""
        return "/contoso.onmicrosoft.com/oauth2/v2.0/token"

    @staticmethod
    def _v1(exchange: Exchange) -> bool:
        return bool(_V1.match(exchange.path))

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        """v1 needs ``resource``; v2 needs one scope, and it must be ``…/.default``."""
        if self._v1(exchange):
            if not exchange.param("resource", params):
                return self.refusal(
                    400,
                    "invalid_request",
                    "AADSTS900144: The request body must contain the following parameter: "
                    "'resource'.",
                )
            return None
        scope = exchange.param("scope", params)
        if not scope:
            return self.refusal(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'scope'.",
            )
        scopes = scope.split()
        if len(scopes) > 1 or not scopes[0].endswith("/.default"):
            return self.refusal(
                400,
                "invalid_scope",
                f"AADSTS70011: The provided request must include a 'scope' input parameter. "
                f"The provided value for the input parameter 'scope' is not valid. The scope "
                f"{scope} is not valid. Client credential flows must have a scope value with "
                f"/.default suffixed to the resource identifier (application ID URI).",
            )
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """v2: ``ext_expires_in`` and no ``scope``; v1: strings, ``expires_on``, ``resource``."""
        body.pop("scope", None)
        lifetime = body.get("expires_in")
        if lifetime is None:
            return body
        if not self._v1(exchange):
            body["ext_expires_in"] = lifetime
            return body
        now = int(time.time())
        seconds = int(float(lifetime))
        resource = exchange.param("resource", self.parameters(exchange)) or ""
        body.update(
            expires_in=str(seconds),
            ext_expires_in=str(seconds),
            expires_on=str(now + seconds),
            not_before=str(now),
            resource=resource,
        )
        return body

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        """Entra's error shape, with an AADSTS code, trace and correlation ids."""
        error = str(answer.body.get("error", "invalid_request"))
        description = str(answer.body.get("error_description", ""))
        found = _CODE.match(description)
        if found:
            code = int(found.group(1))
        else:
            code, text = _CODES.get(error, (90000, description or "The request is not valid."))
            description = f"AADSTS{code}: {text}"
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        body = {
            "error": error,
            "error_description": f"{description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
        return Answer(answer.status, body, answer.headers)


def _names_a_certificate(assertion: str | None) -> bool:
    decoded = unverified(assertion or "")
    return decoded is not None and bool({"x5t", "x5t#S256"} & set(decoded[0]))
