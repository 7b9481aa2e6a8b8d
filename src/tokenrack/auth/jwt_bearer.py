"""``grant: jwt_bearer``: the JWT-bearer authorization grant (RFC 7523 §2.1) for any provider.

The profile's private key signs an assertion whose claims the profile configures under
``jwt_bearer`` (``issuer``, ``subject``, ``audience``, ``claims``, ``lifetime``,
``algorithm``, ``key_id``, ``scopes_in``); the request carries it as ``assertion`` with
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. The key is the credential, so
client authentication defaults to ``none`` (a profile may still name another method).

A grant is a provider's concern (docs/architecture.md), so the grant is a mixin:
:func:`with_grant` turns the profile's provider class into one that sends it, keeping the
provider's token URL, scopes and answer parsing. Each fetch signs a new assertion (fresh
``jti``, ``iat`` now); a retry within one fetch resends it, as Google's flow does.
"""

from __future__ import annotations

import dataclasses
import secrets as random_tokens
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from tokenrack.auth.material import material_origin, read_material
from tokenrack.errors import ConfigError, ConfigProblem, InvalidGrantError, without_frames
from tokenrack.oauth.message import TokenRequest
from tokenrack.oauth.provider import Provider, TokenFlow
from tokenrack.secret.value import Secret

__all__ = [
    "CLIENT_CREDENTIALS",
    "GRANTS",
    "JWT_BEARER",
    "JWT_BEARER_GRANT_TYPE",
    "JWT_BEARER_SCHEMA",
    "JwtBearerGrant",
    "key_refused",
    "with_grant",
]

CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "jwt_bearer"
GRANTS = (CLIENT_CREDENTIALS, JWT_BEARER)
"""The values of the ``grant`` profile key (``client_credentials`` is the default)."""

JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OPTION = "jwt_bearer"
KEY_OPTION = "private_key"
PASSPHRASE_OPTION = "private_key_passphrase"
DEFAULT_LIFETIME = 300
# Claims the grant sets itself; ``claims`` may not replace them.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti"})

JWT_BEARER_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "issuer": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1},
        "audience": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ]
        },
        "claims": {"type": "object"},
        "lifetime": {"type": "integer", "minimum": 30, "maximum": 3600},
        "algorithm": {
            "enum": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
        },
        "key_id": {"type": "string", "minLength": 1},
        "scopes_in": {"enum": ["parameter", "claim", "both"]},
    },
    "additionalProperties": False,
}
"""The schema of the ``jwt_bearer`` profile key."""


class JwtBearerGrant(Provider):
    """The JWT-bearer grant, mixed in before a provider class by :func:`with_grant`.

    Profile keys: ``jwt_bearer`` (the assertion's claims and signing), ``private_key`` (PEM
    or JWK, any secret source), ``private_key_passphrase``.
    """

    grant_type: ClassVar[str] = JWT_BEARER_GRANT_TYPE
    default_auth_method: ClassVar[str] = "none"

    # -- what the profile says ---------------------------------------------------------

    @property
    def settings(self) -> Mapping[str, Any]:
        """The profile's ``jwt_bearer`` mapping over the provider's preset, if it has one.

        A vendor provider presets what its service requires (e.g. Salesforce's ``aud`` and
        3-minute lifetime) with a ``jwt_bearer_defaults()`` method; the profile overrides it.
        """
        preset = getattr(super(), "jwt_bearer_defaults", None)
        value = self.options.get(OPTION)
        merged = dict(preset()) if callable(preset) else {}
        merged.update(value if isinstance(value, Mapping) else {})
        return merged

    @property
    def issuer(self) -> str:
        """``iss``: ``jwt_bearer.issuer``, else the client id."""
        return str(self.settings.get("issuer") or self.client_id or "")

    @property
    def subject(self) -> str:
        """``sub``: ``jwt_bearer.subject``, else the issuer (the client acting for itself)."""
        return str(self.settings.get("subject") or self.issuer)

    @property
    def scopes_in(self) -> str:
        """Where the scopes go: the ``scope`` parameter, the ``scope`` claim, or both."""
        return str(self.settings.get("scopes_in") or "parameter")

    def audience(self, token_url: str) -> str | list[str]:
        """``aud``: ``jwt_bearer.audience``, else the token URL."""
        value = self.settings.get("audience")
        if isinstance(value, list):
            return [str(v) for v in value]
        return str(value or token_url)

    def check_options(self) -> None:
        """Refuse what the schema cannot: no issuer, a reserved claim, no key, a grant clash.

        Raises:
            ConfigError: The grant cannot be built from the profile.
        """
        problems: list[ConfigProblem] = []
        if not self.issuer:
            problems.append(
                ConfigProblem(f"{OPTION}.issuer", "the assertion needs an iss: set it or client_id")
            )
        reserved = sorted(RESERVED_CLAIMS & set(self.settings.get("claims") or {}))
        if reserved:
            problems.append(
                ConfigProblem(
                    f"{OPTION}.claims",
                    f"{', '.join(reserved)} are set by the grant itself (use issuer, subject, "
                    "audience, lifetime)",
                )
            )
        if KEY_OPTION not in self.options:
            problems.append(
                ConfigProblem(KEY_OPTION, "grant: jwt_bearer signs with a private key, but missing")
            )
        if problems:
            raise ConfigError(problems=problems)
        super().check_options()

    # -- hooks -------------------------------------------------------------------------

    def build_token_request(self) -> TokenRequest:
        """The provider's request with the JWT-bearer ``grant_type``, without its assertion.

        What cache keys and ``tokenrack explain`` see when the key is not at hand.
        """
        request = super().build_token_request()
        form = [(k, v) for k, v in request.form if k != "grant_type"]
        if self.scopes_in == "claim":
            form = [(k, v) for k, v in form if k != "scope"]
        return dataclasses.replace(request, form=(("grant_type", JWT_BEARER_GRANT_TYPE), *form))

    def cache_key_parts(self) -> Mapping[str, str]:
        """The provider's parts plus the claims that shape the token (never the key).

        The key itself is the credential: the core adds its fingerprint (part
        ``credential``), so two profiles share a token only if they hold the same key.
        """
        parts = dict(super().cache_key_parts())
        parts["jwt_bearer.iss"] = self.issuer
        parts["jwt_bearer.sub"] = self.subject
        audience = self.settings.get("audience")
        if audience:
            parts["jwt_bearer.aud"] = str(audience)
        claims = self.settings.get("claims")
        if claims:
            import json

            parts["jwt_bearer.claims"] = json.dumps(claims, sort_keys=True, default=str)
        if self.scopes_in != "parameter":
            parts["jwt_bearer.scope"] = " ".join(sorted(self.scopes))
        return parts

    def assertion_claims(self, token_url: str, now: int) -> dict[str, Any]:
        """The assertion's claims: the extra ``claims``, then the registered ones.

        ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``jti``, and ``scope`` when ``scopes_in`` is
        ``claim`` or ``both``.
        """
        lifetime = int(self.settings.get("lifetime", DEFAULT_LIFETIME))
        claims: dict[str, Any] = dict(self.settings.get("claims") or {})
        claims.update(
            iss=self.issuer,
            sub=self.subject,
            aud=self.audience(token_url),
            iat=now,
            exp=now + lifetime,
            jti=random_tokens.token_urlsafe(18),
        )
        if self.scopes_in != "parameter" and self.scopes:
            claims["scope"] = " ".join(self.scopes)
        return claims

    def _signing_key(self, secrets: Mapping[str, Secret]) -> Any:
        # Signing loads with the first jwt_bearer fetch: importing this grant (every config
        # does) must not import it (issue 15).
        from tokenrack.auth.signing import KeyMaterialError, load_private_key

        secret = secrets.get(KEY_OPTION)
        if secret is None:
            raise ConfigError("grant: jwt_bearer needs private_key", path=KEY_OPTION)
        passphrase = secrets.get(PASSPHRASE_OPTION)
        try:
            return load_private_key(
                read_material(secret.reveal(), what=KEY_OPTION, used_by=KEY_OPTION),
                algorithm=str(self.settings.get("algorithm") or "RS256"),
                key_id=self.settings.get("key_id"),
                passphrase=passphrase.reveal() if passphrase is not None else None,
            )
        except (KeyMaterialError, ValueError) as error:
            # The frames hold the key material as locals: the error goes on without them.
            without_frames(error)
            origin = material_origin(self.options.get(KEY_OPTION), secret)
            where = f"{origin}: " if origin else ""
            raise ConfigError(f"{where}{_hint(error)}", path=KEY_OPTION) from None

    def token_flow(self, secrets: Mapping[str, Secret]) -> TokenFlow:
        """Sign a fresh assertion with the private key and exchange it for a token.

        Raises:
            ConfigError: The key is missing or unusable (named, never quoted).
            TokenRequestError: The server refused the grant.
        """
        from tokenrack.auth.signing import sign_jwt

        request = self.build_token_request()
        key = self._signing_key(secrets)
        assertion = sign_jwt(self.assertion_claims(request.url, int(time.time())), key)
        response = yield request.with_form(("assertion", Secret(assertion)))
        return self.parse_token_response(response)


def _hint(error: Exception) -> str:
    message = str(error)
    if "encrypted and no passphrase" in message:
        return f"the PEM key is encrypted: set {PASSPHRASE_OPTION} (a secret)"
    if "passphrase is wrong" in message:
        return f"cannot decrypt the PEM key: {PASSPHRASE_OPTION} is wrong"
    return message


_MADE: dict[type[Provider], type[Provider]] = {}


def with_grant(cls: type[Provider], grant: object) -> type[Provider]:
    """The provider class that sends ``grant`` (the class itself for client credentials).

    For ``jwt_bearer``: a subclass with :class:`JwtBearerGrant` mixed in, made once per
    provider class, whose schema adds ``jwt_bearer``, ``private_key`` and
    ``private_key_passphrase`` and whose default auth method is ``none``. A provider that
    has a grant of its own (``google``) is returned as it is; the loader refuses the pair.
    """
    if grant != JWT_BEARER or issubclass(cls, JwtBearerGrant):
        return cls
    if cls.grant_type != CLIENT_CREDENTIALS:
        return cls
    made = _MADE.get(cls)
    if made is None:
        schema = dict(cls.options_schema)
        schema["properties"] = {
            **dict(schema.get("properties", {})),
            OPTION: JWT_BEARER_SCHEMA,
            KEY_OPTION: {},
            PASSPHRASE_OPTION: {},
        }
        attributes = {
            "__module__": cls.__module__,
            "__doc__": cls.__doc__,
            "__qualname__": cls.__qualname__,
            "options_schema": schema,
            "secret_options": cls.secret_options | {KEY_OPTION, PASSPHRASE_OPTION},
            "supported_auth_methods": cls.supported_auth_methods | {"none"},
        }
        made = _MADE[cls] = type(cls.__name__, (JwtBearerGrant, cls), attributes)
    return made


def grant_problem(cls: type[Provider], options: Mapping[str, Any]) -> ConfigProblem | None:
    """Why the profile's ``grant`` and ``jwt_bearer`` keys do not fit, or None."""
    grant = options.get("grant", CLIENT_CREDENTIALS)
    if grant == JWT_BEARER and not issubclass(cls, JwtBearerGrant):
        return ConfigProblem(
            "grant",
            f"provider {cls.name!r} sends its own grant ({cls.grant_type}); "
            "grant: jwt_bearer is for client-credentials providers such as generic",
        )
    if OPTION in options and grant != JWT_BEARER:
        return ConfigProblem(OPTION, "only used with grant: jwt_bearer")
    return None


def key_refused(provider: Provider, error: BaseException) -> bool:
    """Whether ``error`` is the server refusing the JWT-bearer assertion (``invalid_grant``).

    For this grant the key is the credential, so such a refusal is read as a refusal of
    the client is: the core reads the key again before the next fetch (it may have been
    rotated under the same file or variable).
    """
    return isinstance(provider, JwtBearerGrant) and isinstance(error, InvalidGrantError)
