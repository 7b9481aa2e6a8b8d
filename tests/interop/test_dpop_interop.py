"""DPoP (RFC 9449) against node oidc-provider 8.8.1, an independent implementation.

oidc-provider checks the proof (typ, alg, jwk, signature, htm, htu, iat, jti replay), demands
its nonce when told to (``use_dpop_nonce``, then the retry with the nonce), issues
``token_type: DPoP``, and its introspection shows the key the token is bound to
(``cnf.jkt``), which must be tokenrack's key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from tests.interop.conftest import OidcProvider, OidcProviderFactory, secret_client
from tokenrack.core.registry import Registry

MakeRegistry = Callable[..., Registry]
SECRET = "interop-dpop-secret-0123456789abcdef"


def _introspect(provider: OidcProvider, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        provider.issuer + "/token/introspection",
        data=urllib.parse.urlencode(
            {"token": token, "client_id": "dpop-client", "client_secret": SECRET}
        ).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        document: dict[str, Any] = json.load(answer)
    return document


def _start(oidc_provider: OidcProviderFactory, *, nonce: bool) -> OidcProvider:
    dpop: dict[str, Any] = {"enabled": True}
    if nonce:
        dpop.update(nonceSecret=secrets.token_hex(32), requireNonce=True)
    return oidc_provider(
        [secret_client("dpop-client", SECRET, "client_secret_post")],
        {
            "features": {"dPoP": dpop, "introspection": {"enabled": True}},
            # Its default is ES256 and EdDSA; the rest it supports when enabled.
            "enabledJWA": {"dPoPSigningAlgValues": ["ES256", "ES384", "PS256", "EdDSA"]},
        },
    )


def _token_statuses(provider: OidcProvider) -> list[int]:
    return [r["status"] for r in provider.requests() if r["path"] == "/token"]


def _profile(provider: OidcProvider, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": provider.token_url,
        "client_id": "dpop-client",
        "client_secret": SECRET,
        "auth_method": "client_secret_post",
        "allow_insecure_http": True,
        "dpop": True,
        **options,
    }


@pytest.mark.parametrize("nonce", [False, True], ids=["no-nonce", "nonce-required"])
def test_oidc_provider_issues_a_token_bound_to_our_key(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry, nonce: bool
) -> None:
    provider = _start(oidc_provider, nonce=nonce)
    registry = make_registry({"p": _profile(provider)})
    token = registry.get_token("p")
    assert token.token_type == "DPoP"
    dpop = registry.runtime("p").dpop
    assert dpop is not None
    details = _introspect(provider, token.access_token)
    assert details["active"] is True and details["token_type"] == "DPoP"
    assert details["cnf"] == {"jkt": dpop.key.thumbprint}
    statuses = _token_statuses(provider)
    # With a nonce required: refused once (use_dpop_nonce), then issued with the nonce.
    assert statuses == ([400, 200] if nonce else [200])
    # The nonce is remembered: the next fetch is accepted at once.
    registry.get_token("p", force_refresh=True)
    assert _token_statuses(provider)[len(statuses) :] == [200]


@pytest.mark.parametrize("algorithm", ["ES384", "PS256", "EdDSA"])
def test_oidc_provider_accepts_proofs_in_other_algorithms(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry, algorithm: str
) -> None:
    provider = _start(oidc_provider, nonce=False)
    registry = make_registry({"p": _profile(provider, dpop_alg=algorithm)})
    token = registry.get_token("p")
    dpop = registry.runtime("p").dpop
    assert dpop is not None
    assert _introspect(provider, token.access_token)["cnf"] == {"jkt": dpop.key.thumbprint}


def test_oidc_provider_gives_a_profile_without_dpop_an_unbound_bearer_token(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry
) -> None:
    provider = _start(oidc_provider, nonce=True)
    registry = make_registry({"p": _profile(provider, dpop=False)})
    token = registry.get_token("p")
    assert token.token_type == "Bearer"
    assert "cnf" not in _introspect(provider, token.access_token)
