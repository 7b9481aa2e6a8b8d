"""Vendor emulators over HTTPS on loopback, so every vendor's URL template is exercised.

Each vendor's template builds an ``https://`` URL from a host (``domain: 127.0.0.1:PORT``)
or a base URL; the emulator serves TLS with a throwaway CA that profiles trust through
``ca_bundle``. The canary client and canary tokens of tests/conftest.py are used, so the
suite-wide leak guard covers every vendor's paths, failures included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client
from tests.test_bearer_auth import api  # noqa: F401 - a protected API on loopback, as a fixture
from tokenrack.testing import EmulatorClient, Personality, TokenEmulator
from tokenrack.testing.tls import TestCertificates, make_certificates

StartEmulator = Callable[..., TokenEmulator]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("vendor-tls"))


@pytest.fixture
def start(certs: TestCertificates) -> Iterator[StartEmulator]:
    """Start an HTTPS emulator with a personality; all are stopped after the test."""
    running: list[TokenEmulator] = []

    def begin(
        personality: Personality, clients: list[EmulatorClient] | None = None, **kwargs: Any
    ) -> TokenEmulator:
        emulator = TokenEmulator(
            clients if clients is not None else [canary_client()],
            personality=personality,
            ssl_context=certs.server_context(),
            token_prefix=f"{TOKEN_MARK}-",
            **kwargs,
        )
        running.append(emulator.start())
        return emulator

    yield begin
    for emulator in running:
        emulator.stop()


def host(emulator: TokenEmulator) -> str:
    """``127.0.0.1:PORT``, for a vendor's ``domain``."""
    return f"127.0.0.1:{emulator.port}"


def vendor_profile(certs: TestCertificates, provider: str, **options: Any) -> dict[str, Any]:
    """A profile for the canary client, trusting the test CA, with fast retries."""
    return {
        "provider": provider,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "ca_bundle": str(Path(certs.ca_path)),
        "retries": {"attempts": 3, "backoff": 0.01, "max_backoff": 0.05},
        **options,
    }
