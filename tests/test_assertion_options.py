"""Assertion options for private_key_jwt and client_secret_jwt (issue 13, vendors #9 and #10).

Verified by the emulator, whose checks are its own (tokenrack.testing.assertions), and the
headers and claims read back from the request it recorded.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.keys import private_pem, public_pem
from tokenrack import Registry
from tokenrack.errors import ConfigError
from tokenrack.testing import EmulatorClient, TokenEmulator
from tokenrack.testing.tls import make_certificates, make_client_certificate

CLIENT = "svc-assert"


def decode(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def sent(emulator: TokenEmulator) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = dict(emulator.requests[-1].form)["client_assertion"].split(".")
    return decode(header), decode(claims)


@pytest.fixture
def keyed(tmp_path: Path) -> Any:
    key = tmp_path / "key.pem"
    key.write_text(private_pem("rsa"))
    key.chmod(0o600)
    with TokenEmulator([EmulatorClient(CLIENT, public_key=public_pem("rsa"))]) as emulator:
        yield emulator, key


def jwt_profile(emulator: TokenEmulator, key: Path, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT,
        "auth_method": "private_key_jwt",
        "private_key": str(key),
        "retries": {"attempts": 1},
        **options,
    }


def test_assertion_typ_is_opt_in(keyed: Any, make_registry: Callable[..., Registry]) -> None:
    emulator, key = keyed
    registry = make_registry(
        {
            "plain": jwt_profile(emulator, key),
            "typed": jwt_profile(emulator, key, assertion_typ="client-authentication+jwt"),
        }
    )
    registry.get_token("plain")
    assert sent(emulator)[0]["typ"] == "JWT"
    registry.get_token("typed", force_refresh=True)  # the same credential: one cached token
    assert sent(emulator)[0]["typ"] == "client-authentication+jwt"


@pytest.mark.parametrize(
    ("audience", "expected"),
    [("token_endpoint", "token_url"), ("issuer", "issuer"), (None, "token_url")],
)
def test_assertion_audience_keywords(
    keyed: Any, make_registry: Callable[..., Registry], audience: str | None, expected: str
) -> None:
    emulator, key = keyed
    emulator.metadata = {}  # served with its issuer and token_endpoint filled in
    options: dict[str, Any] = {"issuer": emulator.issuer}
    if audience:
        options["assertion_audience"] = audience
    registry = make_registry({"a": jwt_profile(emulator, key, **options)})
    registry.get_token("a")
    assert sent(emulator)[1]["aud"] == getattr(emulator, expected)


def test_assertion_audience_issuer_without_an_issuer_says_what_to_set(
    keyed: Any, make_registry: Callable[..., Registry]
) -> None:
    emulator, key = keyed
    registry = make_registry({"a": jwt_profile(emulator, key, assertion_audience="issuer")})
    with pytest.raises(ConfigError) as raised:
        registry.get_token("a")
    assert "profiles.a.assertion_audience" in str(raised.value)
    assert "set issuer" in str(raised.value)


def test_default_lifetime_is_five_minutes_and_tolerates_a_clock_ahead(
    keyed: Any, make_registry: Callable[..., Registry]
) -> None:
    emulator, key = keyed
    registry = make_registry({"a": jwt_profile(emulator, key)})
    registry.get_token("a")
    claims = sent(emulator)[1]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]


def test_send_certificate_chain_puts_every_certificate_in_x5c(
    tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    ca = make_certificates(tmp_path / "ca")
    cert = make_client_certificate(tmp_path, common_name="app", ca=ca, key_type="rsa")
    chain = tmp_path / "chain.pem"
    chain.write_text(cert.cert_path.read_text() + ca.ca_path.read_text())
    with TokenEmulator([EmulatorClient(CLIENT, public_key=cert.cert_path.read_text())]) as emulator:
        registry = make_registry(
            {
                "a": jwt_profile(
                    emulator,
                    cert.key_path,
                    certificate=str(chain),
                    send_certificate_chain=True,
                )
            }
        )
        registry.get_token("a")
        header = sent(emulator)[0]
    expected = [
        base64.b64encode(ssl.PEM_cert_to_DER_cert(path.read_text())).decode()
        for path in (cert.cert_path, ca.ca_path)
    ]
    assert header["x5c"] == expected
    assert "x5t#S256" in header


def test_send_certificate_chain_needs_a_certificate(
    keyed: Any, make_registry: Callable[..., Registry]
) -> None:
    emulator, key = keyed
    registry = make_registry({"a": jwt_profile(emulator, key, send_certificate_chain=True)})
    with pytest.raises(ConfigError) as raised:
        registry.get_token("a")
    assert "profiles.a.certificate" in str(raised.value)
