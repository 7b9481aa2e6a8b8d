"""The Acme plugin: tokenrack's contract kit, then a real round trip on loopback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from tokenrack_acme import AcmeProvider

from tokenrack import ConfigError, Registry
from tokenrack.testing import (
    EmulatorClient,
    Exchange,
    Personality,
    ProviderContractTests,
    TokenEmulator,
)
from tokenrack.testing.personality import Answer


class TestAcmeContract(ProviderContractTests):
    provider_class: ClassVar[type[AcmeProvider]] = AcmeProvider
    entry_point: ClassVar[str] = "acme"
    profile: ClassVar[dict[str, str]] = {
        "tenant": "emea",
        "client_id": "svc",
        "client_secret": "contract-secret",
    }


class AcmePersonality(Personality):
    """Acme as the emulator plays it: body credentials only, tenant required, ``ttl``."""

    name: ClassVar[str] = "acme"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"client_secret_post"})

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        if not exchange.param("tenant", params):
            return self.refusal(400, "invalid_request", "tenant is required")
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        body["ttl"] = body.pop("expires_in")
        return body


def registry(emulator: TokenEmulator, **options: Any) -> Registry:
    profile = {
        "provider": "acme",
        "tenant": "emea",
        "token_url": emulator.token_url,
        "client_id": "svc",
        "client_secret": "s3cret",
        **options,
    }
    return Registry.from_dict({"version": 1, "profiles": {"acme": profile}})


def test_a_token_from_the_emulator() -> None:
    with TokenEmulator([EmulatorClient("svc", "s3cret")], personality=AcmePersonality()) as emu:
        token = registry(emu).get_token("acme")
        assert token.access_token in emu.issued_tokens
        assert emu.requests[0].form_value("tenant") == "emea"
        assert 3500 < token.expires_in() <= 3600


def test_basic_is_refused_by_acme() -> None:
    from tokenrack import InvalidClientError

    clients = [EmulatorClient("svc", "s3cret")]
    with (
        TokenEmulator(clients, personality=AcmePersonality()) as emu,
        pytest.raises(InvalidClientError),
    ):
        registry(emu, auth_method="client_secret_basic").get_token("acme")


def test_sandbox_needs_region_us() -> None:
    registry = Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "acme": {
                    "provider": "acme",
                    "tenant": "sandbox",
                    "client_id": "svc",
                    "client_secret": "s",
                }
            },
        }
    )
    # A profile's own mistakes make only that profile unusable: using it raises them.
    with pytest.raises(ConfigError, match=r"profiles\.acme\.region"):
        registry.runtime("acme")
