"""issuer: discovery of the token endpoint from RFC 8414 / OIDC metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, canary_client
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, TokenResponseError
from tokenrack.oauth.discovery import metadata_urls
from tokenrack.testing import EmulatorClient, TokenEmulator

MakeRegistry = Callable[..., Registry]


def issuer_profile(emulator: TokenEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "issuer": emulator.issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "retries": {"attempts": 2, "backoff": 0.01},
        **extra,
    }


def test_well_known_urls() -> None:
    assert metadata_urls("https://idp.example") == [
        "https://idp.example/.well-known/oauth-authorization-server",
        "https://idp.example/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://idp.example/tenant/1/") == [
        "https://idp.example/.well-known/oauth-authorization-server/tenant/1",
        "https://idp.example/tenant/1/.well-known/openid-configuration",
    ]


def test_token_endpoint_is_discovered_once_per_issuer(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.metadata = {"token_endpoint_auth_methods_supported": ["client_secret_basic"]}
    registry = make_registry(
        {"a": issuer_profile(emulator), "b": issuer_profile(emulator, scopes=["x"])}
    )
    assert registry.get_token("a").access_token in emulator.issued_tokens
    registry.get_token("b")
    assert emulator.metadata_requests == 1  # cached for the registry's life
    assert emulator.request_count == 2


@pytest.mark.parametrize("flavour", ["rfc8414", "oidc"])
def test_either_well_known_document_is_enough(flavour: str, make_registry: MakeRegistry) -> None:
    with TokenEmulator([canary_client()], issuer=None, token_prefix=TOKEN_MARK) as emulator:
        emulator.metadata = {}
        emulator.metadata_flavours = frozenset({flavour})
        registry = make_registry({"a": issuer_profile(emulator)})
        assert registry.get_token("a").access_token in emulator.issued_tokens


@pytest.mark.parametrize("flavour", ["rfc8414", "oidc"])
def test_issuer_with_a_path(flavour: str, make_registry: MakeRegistry) -> None:
    with TokenEmulator(
        [canary_client()], issuer="/tenants/acme", token_prefix=TOKEN_MARK
    ) as emulator:
        emulator.metadata = {}
        emulator.metadata_flavours = frozenset({flavour})
        assert emulator.issuer.endswith("/tenants/acme")
        registry = make_registry({"a": issuer_profile(emulator)})
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_issuer_must_match_exactly(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    emulator.metadata = {"issuer": emulator.url + "/"}  # one slash more
    registry = make_registry({"a": issuer_profile(emulator)})
    with pytest.raises(TokenResponseError, match="names issuer .* not the configured"):
        registry.get_token("a")
    assert emulator.request_count == 0


def test_no_metadata(emulator: TokenEmulator, make_registry: MakeRegistry) -> None:
    registry = make_registry({"a": issuer_profile(emulator)})
    with pytest.raises(TokenResponseError, match="no authorization server metadata .*HTTP 404"):
        registry.get_token("a")


def test_insecure_token_endpoint_in_metadata_is_refused(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.metadata = {"token_endpoint": "http://idp.example/token"}
    registry = make_registry({"a": issuer_profile(emulator)})
    with pytest.raises(TokenResponseError, match="plain http"):
        registry.get_token("a")


def test_metadata_is_refreshed_after_its_ttl(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    emulator.metadata = {}
    registry = make_registry({"a": issuer_profile(emulator, metadata_ttl=60)}, clock=clock)
    registry.get_token("a")
    clock.advance(3700)  # the token expired and the metadata is stale
    registry.get_token("a")
    assert emulator.metadata_requests == 2


def test_fixed_token_url_with_issuer_uses_metadata_only_for_methods(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    emulator.metadata = {
        "token_endpoint": "https://unused.example/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }
    registry = make_registry({"a": issuer_profile(emulator, token_url=emulator.token_url)})
    registry.get_token("a")
    assert emulator.requests[0].auth_method == "client_secret_post"


def test_issuer_or_token_url_is_required() -> None:
    with pytest.raises(
        ConfigError, match="profiles.a: needs one of token_url, issuer, but has none"
    ):
        Registry.from_dict(
            {
                "version": 1,
                "profiles": {"a": {"provider": "generic", "client_id": "c", "client_secret": "s"}},
            }
        ).runtime("a")


def test_cache_key_is_the_issuer_before_discovery(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": issuer_profile(emulator)})
    parts = registry.runtime("a").cache_key_parts
    assert parts["issuer"] == emulator.issuer and "token_url" not in parts
    assert emulator.metadata_requests == 0  # nothing was fetched to build the runtime


def test_mtls_endpoint_alias_is_used_for_certificate_methods(
    tmp_path: Any, make_registry: MakeRegistry
) -> None:
    from tokenrack.testing.tls import make_certificates, make_client_certificate

    certs = make_certificates(tmp_path / "s")
    client_cert = make_client_certificate(tmp_path / "c", common_name="svc", ca=certs)
    mtls_context = certs.server_context(client_cas=[certs.ca_path], require_client_certificate=True)
    with (
        TokenEmulator(
            [EmulatorClient("svc", tls_subject=client_cert.subject)], ssl_context=mtls_context
        ) as mtls,
        TokenEmulator([], ssl_context=certs.server_context()) as front,
    ):
        front.metadata = {
            "token_endpoint_auth_methods_supported": ["tls_client_auth"],
            "mtls_endpoint_aliases": {"token_endpoint": mtls.token_url},
        }
        registry = make_registry(
            {
                "a": {
                    "provider": "generic",
                    "issuer": front.issuer,
                    "client_id": "svc",
                    "client_cert": str(client_cert.cert_path),
                    "client_key": str(client_cert.key_path),
                    "ca_bundle": str(certs.ca_path),
                }
            }
        )
        registry.get_token("a")
        assert front.request_count == 0 and mtls.request_count == 1
        assert mtls.requests[0].auth_method == "tls_client_auth"


@pytest.mark.parametrize(("encryption_key", "fetches"), [("k" * 40, 1), (None, 2)])
def test_metadata_is_shared_through_the_shared_cache_only_sealed(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Any,
    encryption_key: str | None,
    fetches: int,
) -> None:
    emulator.metadata = {"token_endpoint_auth_methods_supported": ["client_secret_basic"]}
    cache: dict[str, Any] = {"backend": "file", "path": str(tmp_path / "shared")}
    if encryption_key:
        cache["encryption_key"] = encryption_key
    # Two registries stand for two processes on one host, sharing the file cache.
    first = make_registry({"a": issuer_profile(emulator, cache=cache)})
    first.get_token("a")
    second = make_registry({"b": issuer_profile(emulator, cache=cache, scopes=["other"])})
    second.get_token("b")
    # Sealed, the second process read it from the cache; without a key, it discovered it.
    assert emulator.metadata_requests == fetches
    assert emulator.request_count == 2


def test_shared_metadata_for_another_issuer_is_ignored(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Any
) -> None:
    from tokenrack.cache.file import FileCache
    from tokenrack.cache.key import cache_key
    from tokenrack.oauth.discovery import ServerMetadata, encode_metadata

    emulator.metadata = {}
    directory = tmp_path / "shared"
    planted = ServerMetadata(
        "https://evil.example", "https://evil.example/token", ("client_secret_basic",), None, "x"
    )
    FileCache({"path": str(directory)}, secrets={}).set(
        "metadata:" + cache_key({"issuer": emulator.issuer}),
        encode_metadata(planted, expires_at=4e9),
        ttl=60,
    )
    registry = make_registry(
        {"a": issuer_profile(emulator, cache={"backend": "file", "path": str(directory)})}
    )
    assert registry.get_token("a").access_token in emulator.issued_tokens
    assert emulator.metadata_requests == 1  # the planted record was refused, the real one fetched
