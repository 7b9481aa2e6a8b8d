"""Okta API Services apps that require DPoP (on by default since 2024), over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest
from tokenrack_providers.testing.personalities import OktaPersonality

from tests.providers.conftest import StartEmulator, host, vendor_profile
from tokenrack.errors import TokenRequestError
from tokenrack.testing.tls import TestCertificates


def okta(certs: TestCertificates, emulator: Any, **options: Any) -> dict[str, Any]:
    return vendor_profile(certs, "okta", domain=host(emulator), scopes=["invoices.read"], **options)


def test_without_dpop_the_user_sees_oktas_missing_proof_error(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(OktaPersonality(require_dpop=True))
    registry = make_registry({"o": okta(certs, emulator)})
    with pytest.raises(TokenRequestError) as refused:
        registry.get_token("o")
    assert refused.value.error == "invalid_dpop_proof"
    assert "The DPoP proof JWT header is missing." in str(refused.value)


@pytest.mark.parametrize("server", ["default", "aus9x"])
def test_with_dpop_okta_issues_a_bound_token_after_its_nonce(
    start: StartEmulator, certs: TestCertificates, make_registry: Any, server: str
) -> None:
    personality = OktaPersonality(servers=["default", "aus9x"], require_dpop=True)
    emulator = start(personality)
    registry = make_registry({"o": okta(certs, emulator, authorization_server=server, dpop=True)})
    token = registry.get_token("o")
    assert token.token_type == "DPoP"
    assert personality.dpop is not None
    dpop = registry.runtime("o").dpop
    assert dpop is not None
    assert personality.dpop.bindings[token.access_token] == dpop.key.thumbprint
    assert personality.dpop.refusals == ["nonce"]
    assert [r.path for r in emulator.requests] == [f"/oauth2/{server}/v1/token"] * 2


def test_okta_rules_still_apply_before_the_proof(
    start: StartEmulator, certs: TestCertificates, make_registry: Any
) -> None:
    emulator = start(OktaPersonality(require_dpop=True))
    registry = make_registry({"o": okta(certs, emulator, authorization_server="org")})
    with pytest.raises(TokenRequestError) as refused:
        registry.get_token("o")
    assert refused.value.error == "invalid_scope"  # not invalid_dpop_proof: scopes first
