"""The contract every provider plugin passes, ours and third parties' alike.

Subclass :class:`ProviderContractTests` in a pytest module, as keyring's backend authors
subclass ``BackendBasicTests``, and supply the provider class and a valid profile::

    class TestAcme(ProviderContractTests):
        provider_class = AcmeProvider
        entry_point = "acme"
        profile = {"client_id": "id", "client_secret": "contract-secret", "tenant": "t"}

Secrets in :attr:`ProviderContractTests.profile` (``client_secret`` and the provider's
``secret_options``) are plain strings; the kit wraps them as the core does, and hands the
provider's own to :meth:`~tokenrack.oauth.provider.Provider.token_flow`, so a provider that
signs its grant with one of them is checked on the request it really sends. The kit looks
for each secret in what the provider builds, so a secret too short to search for (under 8
characters, or part of the URL) is refused with a message, never a bare ``assert False``.
The field that carries the grant type is not assumed: by default any form field whose
value is the provider's ``grant_type`` will do; :attr:`ProviderContractTests.grant_type_field`
names it exactly. The checks are sans-I/O: they build requests and parse canned answers,
never a socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from tokenrack.errors import TokenRequestError, TokenResponseError
from tokenrack.oauth.message import HttpResponse, TokenRequest
from tokenrack.oauth.provider import Provider
from tokenrack.secret.value import Secret

__all__ = ["MIN_SECRET_LENGTH", "ProviderContractTests"]

_NOW = 1_700_000_000.0

MIN_SECRET_LENGTH = 8
"""The shortest test secret the kit can search for without finding it by chance."""


def _answer(status: int, body: Mapping[str, Any]) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        url="https://contract.invalid/token",
        sent_at=_NOW,
    )


class ProviderContractTests:
    """Checks a provider class against the plugin contract.

    Attributes:
        provider_class: The class under test.
        entry_point: The name it is registered under.
        profile: A valid profile's options for it (secrets as plain strings, each at
            least :data:`MIN_SECRET_LENGTH` characters and distinctive, e.g.
            ``"contract-secret"``).
        grant_type_field: The request field that carries the grant type, for a vendor
            that does not call it ``grant_type`` (e.g. ``"grantType"``); None (the
            default) accepts any form field whose value is the provider's ``grant_type``.
    """

    provider_class: ClassVar[type[Provider]]
    entry_point: ClassVar[str]
    profile: ClassVar[Mapping[str, Any]]
    grant_type_field: ClassVar[str | None] = None

    def _secret_keys(self) -> frozenset[str]:
        return frozenset({"client_secret", *self.provider_class.secret_options})

    def _secret_values(self, provider: Provider) -> dict[str, str]:
        """The profile's secrets by key, refused if too short to search for."""
        keys = self._secret_keys()
        found = {k: v for k, v in self.profile.items() if k in keys and isinstance(v, str) and v}
        url = f"{provider.build_token_request().url} https http"
        for key, value in found.items():
            problem = None
            if len(value) < MIN_SECRET_LENGTH:
                problem = f"is {len(value)} characters; use {MIN_SECRET_LENGTH} or more"
            elif value in url:
                problem = "occurs in the token URL, so it would be found there by chance"
            if problem:
                pytest.fail(
                    f"{type(self).__name__}.profile[{key!r}] {problem}: the kit searches "
                    "requests and cache keys for it; give a distinctive test secret such "
                    "as 'contract-secret'",
                    pytrace=False,
                )
        return found

    @pytest.fixture
    def provider(self) -> Provider:
        """An instance built from :attr:`profile`, secrets wrapped as the core wraps them."""
        keys = self._secret_keys()
        options = {
            key: Secret(value) if key in keys and isinstance(value, str) else value
            for key, value in self.profile.items()
        }
        return self.provider_class(options)

    @pytest.fixture
    def secrets(self) -> dict[str, Secret]:
        """The provider's ``secret_options`` from :attr:`profile`, resolved as the core does."""
        return {
            key: Secret(value)
            for key, value in self.profile.items()
            if key in self.provider_class.secret_options and isinstance(value, str)
        }

    def test_name_matches_entry_point(self) -> None:
        """The class's ``name`` is the entry-point name (the core refuses a mismatch)."""
        assert self.provider_class.name == self.entry_point

    def test_options_schema_is_valid_json_schema(self) -> None:
        """``options_schema`` is a valid draft 2020-12 schema."""
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(dict(self.provider_class.options_schema))

    def test_profile_satisfies_options_schema(self) -> None:
        """The sample profile passes the provider's own schema."""
        from jsonschema import Draft202012Validator

        schema = dict(self.provider_class.options_schema)
        schema.pop("additionalProperties", None)
        Draft202012Validator(schema).validate(dict(self.profile))

    def test_default_auth_method_is_supported(self) -> None:
        """The default auth method is ``auto`` or one the provider supports."""
        cls = self.provider_class
        assert (
            cls.default_auth_method == "auto"
            or cls.default_auth_method in cls.supported_auth_methods
        )

    def test_builds_a_request_to_an_https_or_loopback_url(
        self, provider: Provider, secrets: dict[str, Secret]
    ) -> None:
        """The first request goes to https (or loopback) and carries the grant type.

        The grant type is the provider's ``grant_type``; the field is
        :attr:`grant_type_field` if set, else any form field holding that value.
        """
        from tokenrack.oauth.url_policy import insecure_url_problem

        request = next(provider.token_flow(secrets))
        assert isinstance(request, TokenRequest), (
            f"token_flow() yielded {type(request).__name__}, not a TokenRequest"
        )
        problem = insecure_url_problem(request.url, allow_insecure_http=False)
        assert problem is None, f"the request's URL {request.url}: {problem}"
        expected = self.provider_class.grant_type
        fields = [name for name, _ in request.form]
        if self.grant_type_field is not None:
            sent = request.form_value(self.grant_type_field)
            assert sent == expected, (
                f"form field {self.grant_type_field!r} is {sent!r}, expected the provider's "
                f"grant_type {expected!r} (fields sent: {fields})"
            )
        else:
            carrying = [name for name, value in request.form if value == expected]
            assert carrying, (
                f"no form field carries the provider's grant_type {expected!r} (fields "
                f"sent: {fields}); set grant_type_field if the vendor sends it otherwise"
            )

    def test_request_holds_no_plain_secret(
        self, provider: Provider, secrets: dict[str, Secret]
    ) -> None:
        """No secret appears unwrapped in the requests the provider builds."""
        known = self._secret_values(provider)
        built = (
            ("build_token_request()", provider.build_token_request()),
            ("token_flow()", next(provider.token_flow(secrets))),
        )
        for origin, request in built:
            places = [
                *((f"form field {k!r}", v) for k, v in request.form),
                *((f"header {k!r}", v) for k, v in request.headers),
                (f"the URL {request.url}", request.url),
            ]
            for key, secret in known.items():
                leaks = [
                    where for where, v in places if not isinstance(v, Secret) and secret in str(v)
                ]
                assert not leaks, (
                    f"profile[{key!r}] appears unwrapped in {origin}'s {', '.join(leaks)}; "
                    "wrap it in Secret"
                )

    def test_cache_key_parts_are_stable_and_never_secret(self, provider: Provider) -> None:
        """Cache key parts are deterministic strings without any secret."""
        parts = provider.cache_key_parts()
        assert parts == provider.cache_key_parts(), "cache_key_parts() changed between calls"
        odd = {k: type(v).__name__ for k, v in parts.items() if not isinstance(v, str)}
        assert not odd, f"cache_key_parts() values must be strings; not: {odd}"
        for key, secret in self._secret_values(provider).items():
            leaks = [part for part, v in parts.items() if secret in v]
            assert not leaks, f"profile[{key!r}] appears in cache_key_parts() {leaks}"

    def test_cache_key_parts_separate_clients(self, provider: Provider) -> None:
        """Two client ids never share a cache key."""
        other = self.provider_class({**provider.options, "client_id": "another-client"})
        if provider.client_id is not None:
            assert other.cache_key_parts() != provider.cache_key_parts()

    def test_parses_a_standard_answer(self, provider: Provider) -> None:
        """An RFC 6749 §5.1 answer parses, ``bearer`` normalised, token hidden in repr.

        The answer uses the provider's ``response_fields`` (its token and lifetime names,
        and the lifetime's unit), so a vendor that answers ``ttl`` in ms is checked too.
        """
        fields = self.provider_class.response_fields
        lifetime = 600_000 if fields.expires_in_unit == "ms" else 600
        token = provider.parse_token_response(
            _answer(
                200,
                {
                    fields.token: "contract-token",
                    "token_type": "bearer",
                    fields.expires_in: lifetime,
                },
            )
        )
        assert token.access_token == "contract-token"
        assert token.token_type == "Bearer"
        assert token.expires_at == pytest.approx(_NOW + 600)
        assert "contract-token" not in repr(token)

    def test_refusal_raises_token_request_error(self, provider: Provider) -> None:
        """An RFC 6749 §5.2 error answer raises TokenRequestError."""
        with pytest.raises(TokenRequestError) as caught:
            provider.parse_token_response(_answer(401, {"error": "invalid_client"}))
        assert caught.value.error == "invalid_client"

    def test_garbage_raises_token_response_error(self, provider: Provider) -> None:
        """An answer without a token raises TokenResponseError."""
        with pytest.raises(TokenResponseError):
            provider.parse_token_response(_answer(200, {"no_token": True}))
