"""Google's STS and IAM credentials, strictly: workload identity federation in the emulator.

:class:`GoogleStsPersonality` answers ``POST /v1/token`` as ``sts.googleapis.com`` does (an
RFC 8693 exchange of an external JWT for a federated access token) and
``POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`` as
``iamcredentials.googleapis.com`` does (the federated token as Bearer, a JSON answer with
``accessToken`` and ``expireTime``). STS refuses a wrong ``audience`` (not the pool provider
it serves), a ``subject_token_type`` other than the provider's, a missing or unknown
``requested_token_type``, and an expired or wrongly addressed subject JWT; IAM refuses a
Bearer it did not issue at STS, an account it does not know and a missing ``scope``.
Messages are modelled on those client libraries report ([I]: not Google's documentation).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from tokenrack.testing.personality import Answer, Exchange, Personality, Verdict
from tokenrack.testing.values import EmulatorClient

if TYPE_CHECKING:
    from tokenrack.testing.emulator import TokenEmulator

__all__ = ["STS_PATH", "GoogleStsPersonality", "impersonation_path"]

STS_PATH = "/v1/token"
_IAM = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$")
_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
_STS_CLIENT = EmulatorClient("sts", auth_methods=frozenset({"none"}))


def impersonation_path(email: str) -> str:
    """The ``generateAccessToken`` path for ``email`` (append it to the emulator's URL)."""
    return f"/v1/projects/-/serviceAccounts/{email}:generateAccessToken"


def _claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _error(status: int, error: str, description: str) -> Answer:
    return Answer(status, {"error": error, "error_description": description})


def _iam_error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"error": {"code": status, "message": message, "status": code}})


class GoogleStsPersonality(Personality):
    """STS and IAM credentials for one workload identity pool provider.

    Args:
        audience: The pool provider STS serves
            (``//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X``).
        subject_token_type: The type the provider is configured for (an OIDC provider: jwt
            or id_token).
        subject_audience: The ``aud`` the external JWT must carry (the provider's allowed
            audience; google-auth's default is the ``audience`` with ``https:`` in front).
        service_accounts: The accounts the federated principal may impersonate.
    """

    name: ClassVar[str] = "google-sts"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"none"})

    def __init__(
        self,
        *,
        audience: str,
        subject_token_type: str = "urn:ietf:params:oauth:token-type:jwt",
        subject_audience: str | None = None,
        service_accounts: Iterable[str] = (),
    ) -> None:
        self.audience = audience
        self.subject_token_type = subject_token_type
        self.subject_audience = subject_audience or f"https:{audience}"
        self.service_accounts = frozenset(service_accounts)
        self.federated: set[str] = set()

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        """STS's token path and IAM's ``generateAccessToken`` paths."""
        return path == STS_PATH or _IAM.match(path) is not None

    def token_path(self, emulator: TokenEmulator) -> str:
        """STS's token path."""
        return STS_PATH

    def authenticate(self, emulator: TokenEmulator, exchange: Exchange) -> Verdict:
        """STS takes no client authentication here; IAM checks its Bearer in :meth:`grant`."""
        return _STS_CLIENT, "none", None

    def grant(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        """The STS exchange, or the IAM impersonation."""
        found = _IAM.match(exchange.path)
        if found is not None:
            return self._impersonate(emulator, exchange, found.group(1), params)
        return self._exchange(emulator, params)

    def _exchange(self, emulator: TokenEmulator, params: Sequence[tuple[str, str]]) -> Answer:
        def param(name: str) -> str | None:
            return Exchange.param(name, params)

        if param("grant_type") != _TOKEN_EXCHANGE:
            return _error(400, "unsupported_grant_type", "Invalid grant_type.")
        if param("audience") != self.audience:
            return _error(400, "invalid_request", 'Invalid value for "audience".')
        if param("requested_token_type") != _ACCESS_TOKEN:
            return _error(400, "invalid_request", "Invalid requested_token_type.")
        if param("subject_token_type") != self.subject_token_type:
            return _error(400, "invalid_request", "Invalid subject_token_type.")
        claims = _claims(param("subject_token") or "")
        if claims is None:
            return _error(400, "invalid_request", "Invalid subject_token: not a JWT.")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= time.time():
            return _error(400, "invalid_grant", "The ID Token expired.")
        aud = claims.get("aud")
        named = {aud} if isinstance(aud, str) else set(aud if isinstance(aud, list) else ())
        if self.subject_audience not in named:
            return _error(400, "invalid_grant", "The audience in ID Token does not match.")
        scopes = (param("scope") or "").split()
        token = emulator.issue_token(_STS_CLIENT, scopes, self.audience)
        self.federated.add(token)
        body: dict[str, Any] = {
            "access_token": token,
            "issued_token_type": _ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return Answer(200, body)

    def _impersonate(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        email: str,
        params: Sequence[tuple[str, str]],
    ) -> Answer:
        bearer = exchange.headers.get("authorization", "")
        if not bearer.startswith("Bearer ") or bearer[7:] not in self.federated:
            return _iam_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
            )
        if email not in self.service_accounts:
            return _iam_error(
                403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied"
            )
        scopes = [value for key, value in params if key == "scope"]
        if not scopes:
            return _iam_error(400, "INVALID_ARGUMENT", "Scope required.")
        lifetime = 3600
        asked = Exchange.param("lifetime", params)
        if asked is not None:
            lifetime = int(asked.rstrip("s"))
        token = emulator.issue_token(EmulatorClient(email), scopes, None)
        expiry = datetime.fromtimestamp(int(time.time()) + lifetime, UTC)
        return Answer(
            200,
            {
                "accessToken": token,
                "expireTime": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Answers as built (STS's RFC 8693 body, or IAM's JSON)."""
        return body
