"""Google service accounts: the JWT-bearer grant (RFC 7523 §2.1), not client credentials.

Sources (docs/providers/google.md has the table): Google has no client-credentials grant.
A service account signs a JWT with its key file's RSA key (RS256, ``kid`` = the key file's
``private_key_id``) whose claims are ``iss`` = its email, ``scope`` = the scopes
space-separated, ``aud`` = the token URI, ``iat`` and an ``exp`` at most an hour later, and
``sub`` = a user's email for domain-wide delegation; it posts the JWT as ``assertion`` with
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. The assertion is the credential,
so no client authentication method applies: the provider declares ``none`` and its request
says ``authenticate=False``.

With ``external_account`` (a workload identity federation credential configuration) the
provider exchanges an external token at Google's STS instead, then optionally impersonates a
service account: :mod:`tokenrack_providers.google_wif`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tokenrack.plugin import (
    JWT_EXTRA,
    ConfigError,
    KeyMaterialError,
    Secret,
    TokenFlow,
    TokenRequest,
    jwt_available,
    load_private_key,
    sign_jwt,
)
from tokenrack_providers._vendor import VendorProvider, string
from tokenrack_providers.google_wif import (
    EXTERNAL_OPTION,
    STS_URL,
    TOKEN_EXCHANGE,
    ExternalAccount,
    external_account_flow,
)

__all__ = ["DEFAULT_TOKEN_URL", "JWT_BEARER", "GoogleProvider", "ServiceAccountKey"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
KEY_OPTION = "service_account_key"
_EMAIL = r"^([^@\s]+@[^@\s]+\.[^@\s]+|.*\$\{.*)$"
_HOW_TO_GET_ONE = "IAM & Admin > Service accounts > Keys > Add key > JSON"


def _key_problem(message: str) -> ConfigError:
    return ConfigError(f"{message} ({_HOW_TO_GET_ONE})", path=KEY_OPTION)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


# What each field of a key file must hold, checked in this order; the message names the
# field and never quotes the file.
_FIELD_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    (
        "client_email",
        lambda value: isinstance(value, str) and "@" in value,
        "the key file has no client_email",
    ),
    (
        "private_key",
        lambda value: isinstance(value, str) and "-----BEGIN" in value,
        "the key file has no PEM private_key",
    ),
    (
        "private_key_id",
        lambda value: value is None or isinstance(value, str),
        "the key file's private_key_id is not a string",
    ),
    (
        "token_uri",
        lambda value: value is None or _is_url(value),
        "the key file's token_uri is not an http(s) URL",
    ),
)


def _key_object(text: str) -> dict[str, Any]:
    """The key file's JSON object, of type ``service_account``.

    Raises:
        ConfigError: Not JSON, not an object, or another type of key file.
    """
    try:
        data = json.loads(text)
    except ValueError as error:
        where = getattr(error, "lineno", None)
        at = f" (line {where})" if where else ""
        raise _key_problem(f"not a JSON key file: the text is not JSON{at}") from None
    if not isinstance(data, dict):
        raise _key_problem("not a JSON key file: expected a JSON object")
    kind = data.get("type", "service_account")
    if kind != "service_account":
        shown = repr(kind) if isinstance(kind, str) and kind.isidentifier() else "another"
        raise _key_problem(f"the key file's type is {shown}, not 'service_account'")
    return data


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    """What the grant needs from a service account's JSON key file.

    Attributes:
        client_email: The service account's email: the assertion's ``iss``.
        private_key: The PEM RSA private key; never shown.
        private_key_id: The key's id: the assertion's ``kid``.
        token_uri: The token endpoint the file names, if any.
    """

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    token_uri: str | None = None

    @classmethod
    def from_json(cls, text: str) -> ServiceAccountKey:
        """Read a key file's JSON.

        Raises:
            ConfigError: The text is not a service account's JSON key (the message names
                the field that is wrong or missing, and never quotes the file).
        """
        data = _key_object(text)
        for name, holds, message in _FIELD_CHECKS:
            if not holds(data.get(name)):
                raise _key_problem(message)
        return cls(
            data["client_email"],
            data["private_key"],
            data.get("private_key_id") or None,
            data.get("token_uri") or None,
        )


class GoogleProvider(VendorProvider):
    """A Google service account's access token, through the JWT-bearer grant.

    Profile keys: ``service_account`` (its email; part of the cache key and checked against
    the key file), ``service_account_key`` (the JSON key file, a secret: ``{file: …}``,
    ``{env: …}``, …), ``scopes`` (required; they travel inside the assertion), ``subject``
    (a user to act as, with domain-wide delegation), ``assertion_lifetime`` (seconds, at
    most 3600, the default).
    """

    name: ClassVar[str] = "google"
    grant_type: ClassVar[str] = JWT_BEARER
    # Read by `tokenrack providers`: without PyJWT the provider is listed as unusable.
    requires_extra: ClassVar[str | None] = JWT_EXTRA
    # The signed assertion is the credential (RFC 7521 §4.1): no client authentication,
    # and no client_id or client_secret to ask the profile for.
    default_auth_method: ClassVar[str] = "none"
    supported_auth_methods: ClassVar[frozenset[str]] = frozenset({"none"})
    secret_options: ClassVar[frozenset[str]] = frozenset({KEY_OPTION, EXTERNAL_OPTION})
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        # service_account and its key, or external_account: check_options says which is missing.
        "required": ["scopes"],
        "properties": {
            "service_account": string(
                _EMAIL, "a service account's email, e.g. reports@acme-prod.iam.gserviceaccount.com"
            ),
            KEY_OPTION: {},
            EXTERNAL_OPTION: {},
            "scopes": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
            },
            "subject": string(_EMAIL, "a user's email, e.g. admin@acme.example"),
            "assertion_lifetime": {"type": "integer", "minimum": 60, "maximum": 3600},
        },
    }

    # -- what the profile says ---------------------------------------------------------

    @property
    def service_account(self) -> str:
        """The service account's email, as the profile names it ("" with ``external_account``)."""
        return str(self.options.get("service_account") or "")

    @property
    def external(self) -> bool:
        """Whether the profile federates through an ``external_account`` file."""
        return EXTERNAL_OPTION in self.options

    @property
    def subject(self) -> str | None:
        """The user to act as (domain-wide delegation), if any."""
        value = self.options.get("subject")
        return str(value) if value else None

    def check_options(self) -> None:
        """Refuse client credentials (the grant has none) and a missing JWT extra.

        Raises:
            ConfigError: The profile sets ``client_id``/``client_secret``, mixes a key file
                with ``external_account``, lacks both, or the ``tokenrack[jwt]`` extra that
                signs the assertion is not installed.
        """
        if self.external:
            for key in ("service_account", KEY_OPTION, "subject", "assertion_lifetime"):
                if key in self.options:
                    raise ConfigError(
                        f"{key} is for a service account key; {EXTERNAL_OPTION} federates "
                        "without one (the impersonated account is named in its file)",
                        path=key,
                    )
            return
        for key in ("service_account", KEY_OPTION):
            if key not in self.options:
                raise ConfigError(
                    f"required, but missing (or set {EXTERNAL_OPTION} for workload identity "
                    "federation)",
                    path=key,
                )
        for key in ("client_id", "client_secret"):
            if key in self.options:
                raise ConfigError(
                    f"google authenticates with the service account's signed assertion, not "
                    f"{key}: name the account in service_account and its key file in "
                    f"{KEY_OPTION}",
                    path=key,
                )
        if not jwt_available():
            raise ConfigError(
                f"google signs its grant with the {JWT_EXTRA} extra: pip install '{JWT_EXTRA}'",
                path="provider",
            )

    # -- hooks -------------------------------------------------------------------------

    def template_url(self) -> str:
        """Google's token endpoint (a key file's ``token_uri`` is used when it names one).

        With ``external_account``: Google's STS (the file's ``token_url`` when it names one).
        """
        return STS_URL if self.external else DEFAULT_TOKEN_URL

    def options_from_secrets(self, secrets: Mapping[str, Secret]) -> Mapping[str, Any]:
        """The key file's ``token_uri`` as ``token_url``, unless the profile sets one.

        So the URL shown, logged and in the cache key is the one :meth:`token_flow` posts
        to. A key file that cannot be read learns nothing here: :meth:`token_flow` reports it.
        """
        external = secrets.get(EXTERNAL_OPTION)
        if external is not None:
            return self._external_options(external)
        secret = secrets.get(KEY_OPTION)
        if secret is None or self.options.get("token_url"):
            return {}
        try:
            key = ServiceAccountKey.from_json(secret.reveal())
        except ConfigError:
            return {}
        return {"token_url": key.token_uri} if key.token_uri else {}

    def _external_options(self, secret: Secret) -> Mapping[str, Any]:
        """What the ``external_account`` file says that the cache key and ``explain`` show."""
        try:
            account = ExternalAccount.from_json(secret.reveal())
        except ConfigError:
            return {}
        learned: dict[str, Any] = {"external_audience": account.audience}
        if not self.options.get("token_url"):
            learned["token_url"] = account.token_url
        if account.impersonation_url:
            learned["impersonation_url"] = account.impersonation_url
        return learned

    def build_token_request(self) -> TokenRequest:
        """The grant without its assertion, which :meth:`token_flow` signs and adds.

        No ``scope`` parameter: the scopes are claims of the assertion.

        What cache keys and ``tokenrack explain`` see when the key is not at hand.
        """
        if self.external:
            form: tuple[tuple[str, str], ...] = (
                ("grant_type", TOKEN_EXCHANGE),
                ("audience", str(self.options.get("external_audience") or "")),
                ("scope", " ".join(self.scopes)),
            )
            return TokenRequest(url=self.token_url(), form=form, authenticate=False)
        return TokenRequest(
            url=self.token_url(), form=(("grant_type", self.grant_type),), authenticate=False
        )

    def cache_key_parts(self) -> Mapping[str, str]:
        """The endpoint, the service account, the sorted scopes and the subject."""
        parts = dict(super().cache_key_parts())
        if self.external:
            # The file itself is a secret option: its fingerprint binds the subject token's
            # source (the path or URL it names), not the rotating token.
            parts["scope"] = " ".join(sorted(self.scopes))
            parts["impersonation_url"] = str(self.options.get("impersonation_url") or "")
            return parts
        parts["service_account"] = self.service_account
        parts["scope"] = " ".join(sorted(self.scopes))
        if self.subject:
            parts["subject"] = self.subject
        return parts

    def assertion_claims(self, key: ServiceAccountKey, audience: str, now: int) -> dict[str, Any]:
        """The JWT's claims: ``iss``, ``scope``, ``aud``, ``iat``, ``exp`` and maybe ``sub``."""
        lifetime = int(self.options.get("assertion_lifetime", 3600))
        claims: dict[str, Any] = {
            "iss": key.client_email,
            "scope": " ".join(self.scopes),
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
        }
        if self.subject:
            claims["sub"] = self.subject
        return claims

    def service_account_key(self, secrets: Mapping[str, Secret]) -> ServiceAccountKey:
        """Read the key file, and check it is the key of the account the profile names.

        Raises:
            ConfigError: The key file is unusable, or belongs to another account.
        """
        secret = secrets.get(KEY_OPTION)
        if secret is None:
            raise ConfigError(f"google needs {KEY_OPTION}", path=KEY_OPTION)
        key = ServiceAccountKey.from_json(secret.reveal())
        if key.client_email != self.service_account:
            raise ConfigError(
                f"the key file is {key.client_email}'s, and the profile names "
                f"service_account {self.service_account}: one of them is the wrong one",
                path=KEY_OPTION,
            )
        return key

    def token_flow(self, secrets: Mapping[str, Secret]) -> TokenFlow:
        """Sign the assertion with the service account's key and exchange it for a token.

        Raises:
            ConfigError: The key file is unusable (named, never quoted).
            TokenRequestError: Google refused the grant.
        """
        external = secrets.get(EXTERNAL_OPTION)
        if external is not None:
            account = ExternalAccount.from_json(external.reveal())
            if self.options.get("token_url"):
                account = dataclasses.replace(account, token_url=str(self.options["token_url"]))
            return (
                yield from external_account_flow(account, self.scopes, self.parse_token_response)
            )
        key = self.service_account_key(secrets)
        url = str(self.options.get("token_url") or key.token_uri or DEFAULT_TOKEN_URL)
        try:
            signing = load_private_key(
                key.private_key, algorithm="RS256", key_id=key.private_key_id
            )
        except KeyMaterialError as error:
            raise _key_problem(f"the key file's private_key is unusable: {error}") from None
        assertion = sign_jwt(self.assertion_claims(key, url, int(time.time())), signing)
        response = yield TokenRequest(
            url=url,
            form=(("grant_type", self.grant_type), ("assertion", Secret(assertion))),
            authenticate=False,
        )
        return self.parse_token_response(response)
