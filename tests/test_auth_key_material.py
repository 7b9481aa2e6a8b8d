"""Encrypted private keys (``private_key_passphrase``) and key-material errors that say where.

Issue 11 (ux F11, F14): an encrypted PKCS#8 key is usable with a passphrase from any secret
source, and every error about key material names the config file, the profile's key and the
key file read, never the key or the passphrase.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from tests.conftest import TOKEN_MARK
from tests.keys import private_key, private_pem, public_pem
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.testing import EmulatorClient, TokenEmulator

MakeRegistry = Callable[..., Registry]
PASSPHRASE = "pass CANARYSECRET phrase"


def encrypted_pem(kind: str, passphrase: str = PASSPHRASE) -> str:
    """The test key of ``kind`` as encrypted PKCS#8 (``BEGIN ENCRYPTED PRIVATE KEY``)."""
    return (
        private_key(kind)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
        .decode()
    )


@pytest.fixture
def signed() -> Iterator[TokenEmulator]:
    clients = [
        EmulatorClient("rsa-client", public_key=public_pem("rsa")),
        EmulatorClient("ec-client", public_key=public_pem("p256")),
    ]
    with TokenEmulator(clients, token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


def jwt_profile(emulator: TokenEmulator, client_id: str, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": client_id,
        "auth_method": "private_key_jwt",
        "retries": {"attempts": 1},
        **options,
    }


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(("client", "kind"), [("rsa-client", "rsa"), ("ec-client", "p256")])
@pytest.mark.parametrize("source", ["env", "file"])
def test_encrypted_pkcs8_key_with_a_passphrase_gets_a_token(
    client: str,
    kind: str,
    source: str,
    signed: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
) -> None:
    key = private_file(tmp_path / "key.pem", encrypted_pem(kind))
    assert "BEGIN ENCRYPTED PRIVATE KEY" in key.read_text()
    if source == "env":
        passphrase: dict[str, str] = {"env": "KEY_PASSPHRASE"}
        environ = {"KEY_PASSPHRASE": PASSPHRASE}
    else:
        passphrase = {"file": str(private_file(tmp_path / "phrase", PASSPHRASE + "\n"))}
        environ = {}
    registry = make_registry(
        {"a": jwt_profile(signed, client, private_key=str(key), private_key_passphrase=passphrase)},
        environ=environ,
    )
    assert registry.get_token("a").access_token in signed.issued_tokens
    assert signed.requests[0].auth_method == "private_key_jwt"


def test_the_passphrase_is_a_secret_in_the_schema_and_in_explain(
    signed: TokenEmulator, tmp_path: Path
) -> None:
    """Inline it is accepted like any secret, and ``explain`` never shows it."""
    from tests.cli.test_cli import run

    key = private_file(tmp_path / "key.pem", encrypted_pem("rsa"))
    config = tmp_path / "tokenrack.yaml"
    data = {
        "version": 1,
        "profiles": {
            "a": jwt_profile(
                signed, "rsa-client", private_key=str(key), private_key_passphrase=PASSPHRASE
            )
        },
    }
    config.write_text(yaml.safe_dump(data))
    config.chmod(0o600)
    done = run("explain", "a", config=config)
    assert done.returncode == 0, done.stderr
    assert "secrets: all resolved" in done.stdout
    assert "CANARYSECRET" not in done.stdout + done.stderr
    assert signed.request_count == 0


def test_a_wrong_passphrase_is_a_config_error_naming_the_key_file(
    signed: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    key = private_file(tmp_path / "key.pem", encrypted_pem("rsa"))
    registry = make_registry(
        {
            "billing": jwt_profile(
                signed,
                "rsa-client",
                private_key=str(key),
                private_key_passphrase="not the CANARYSECRET phrase",
            )
        }
    )
    with pytest.raises(ConfigError) as caught:
        registry.get_token("billing")
    error = caught.value
    assert error.file == "<dict>" and error.profile == "billing"
    assert error.path == "profiles.billing.private_key"
    assert f"key file {key}" in str(error)
    assert "private_key_passphrase is wrong" in str(error)
    assert signed.request_count == 0


def test_an_encrypted_key_without_a_passphrase_says_which_key_to_set(
    signed: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    key = private_file(tmp_path / "key.pem", encrypted_pem("p256"))
    registry = make_registry({"a": jwt_profile(signed, "ec-client", private_key=str(key))})
    with pytest.raises(ConfigError, match="encrypted: set private_key_passphrase") as caught:
        registry.get_token("a")
    assert str(key) in str(caught.value)


def test_key_errors_name_the_config_file_profile_and_key_file(
    signed: TokenEmulator, tmp_path: Path
) -> None:
    """From a file: the config file, ``profiles.<name>.private_key`` and the key file read."""
    garbage = private_file(
        tmp_path / "garbage.pem",
        "-----BEGIN PRIVATE KEY-----\nCANARYSECRET\n-----END PRIVATE KEY-----\n",
    )
    certificate = private_file(
        tmp_path / "cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    missing = tmp_path / "absent.pem"
    profiles = {
        "garbage": jwt_profile(signed, "rsa-client", private_key=str(garbage)),
        "cert": jwt_profile(signed, "rsa-client", private_key={"file": str(certificate)}),
        "missing": jwt_profile(signed, "rsa-client", private_key=str(missing)),
        "phrase": jwt_profile(
            signed,
            "rsa-client",
            private_key={"file": str(private_file(tmp_path / "enc.pem", encrypted_pem("rsa")))},
            private_key_passphrase="wrong CANARYSECRET",
        ),
    }
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    config.chmod(0o600)
    expected = {
        "garbage": (garbage, "not a usable PEM private key"),
        "cert": (certificate, "expected a PEM private key, found a certificate"),
        "missing": (missing, "No such file or directory"),
        "phrase": (tmp_path / "enc.pem", "private_key_passphrase is wrong"),
    }
    with Registry.from_file(config) as registry:
        for name, (key_file, words) in expected.items():
            with pytest.raises(ConfigError) as caught:
                registry.get_token(name)
            message = str(caught.value)
            assert message.startswith(f"{config}: profiles.{name}.private_key: "), message
            assert str(key_file) in message and words in message, message
            assert "BEGIN" not in message
    assert signed.request_count == 0


def test_the_passphrase_is_part_of_the_credential_fingerprint(tmp_path: Path) -> None:
    """A profile with a wrong passphrase is never served a token fetched with the right one.

    The fingerprint covers every secret option, the passphrase included (docs/security.md).
    """
    key = private_file(tmp_path / "key.pem", encrypted_pem("rsa"))

    def key_for(passphrase: str) -> str:
        profile = {
            "provider": "generic",
            "token_url": "https://idp.test/token",
            "client_id": "c",
            "auth_method": "private_key_jwt",
            "private_key": str(key),
            "private_key_passphrase": passphrase,
        }
        with Registry.from_dict({"version": 1, "profiles": {"a": profile}}) as registry:
            return registry.runtime("a").cache_key

    assert key_for("one CANARYSECRET") != key_for("two CANARYSECRET")


def test_a_readable_unencrypted_key_file_is_warned_about_with_its_key(
    signed: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = tmp_path / "open.pem"
    key.write_text(private_pem("rsa"))
    key.chmod(0o644)
    registry = make_registry({"svc": jwt_profile(signed, "rsa-client", private_key=str(key))})
    registry.get_token("svc")
    (record,) = [r for r in caplog.records if str(key) in r.getMessage()]
    assert record.levelname == "WARNING"
    assert "used by profiles.svc.private_key" in record.getMessage()
    assert "readable by its group and others" in record.getMessage()
    assert os.stat(key).st_mode & 0o777 == 0o644


def test_explain_names_the_config_file_and_key_file_of_an_unusable_key(
    signed: TokenEmulator, tmp_path: Path
) -> None:
    from tests.cli.test_cli import run

    key = private_file(tmp_path / "key.pem", encrypted_pem("rsa"))
    config = tmp_path / "tokenrack.yaml"
    profiles = {"a": jwt_profile(signed, "rsa-client", private_key="key.pem")}
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    config.chmod(0o600)
    done = run("explain", "a", config=config)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"tokenrack: {config}: profiles.a.private_key: key file {key}: the PEM key is "
        "encrypted: set private_key_passphrase"
    ), done.stderr
    assert "Traceback" not in done.stderr
