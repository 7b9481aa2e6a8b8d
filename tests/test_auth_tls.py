"""Mutual TLS (RFC 8705) and public clients against real TLS servers on loopback."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK, canary_client, profile
from tokenrack.auth import material
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError, TokenEndpointUnavailableError
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator
from tokenrack.testing.tls import (
    ClientCertificateFiles,
    TestCertificates,
    make_certificates,
    make_client_certificate,
)

MakeRegistry = Callable[..., Registry]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    certs = make_certificates(base / "server")
    return {
        "certs": certs,
        "issued": make_client_certificate(base / "issued", common_name="billing-svc", ca=certs),
        "encrypted": make_client_certificate(
            base / "enc", common_name="enc-svc", ca=certs, passphrase="pa55 phrase"
        ),
        "self": make_client_certificate(base / "self", common_name="self-svc"),
        "stranger": make_client_certificate(base / "stranger", common_name="billing-svc"),
    }


@pytest.fixture
def mtls(pki: dict[str, Any]) -> Iterator[TokenEmulator]:
    certs: TestCertificates = pki["certs"]
    clients = [
        EmulatorClient("billing-svc", tls_subject=pki["issued"].subject),
        EmulatorClient("enc-svc", tls_subject=pki["encrypted"].subject),
        EmulatorClient("self-svc", tls_thumbprint=pki["self"].thumbprint),
        EmulatorClient("public-app", auth_methods=frozenset({"none"})),
    ]
    context = certs.server_context(
        client_cas=[certs.ca_path, pki["self"].cert_path], require_client_certificate=True
    )
    with TokenEmulator(clients, ssl_context=context, token_prefix=f"{TOKEN_MARK}-") as emulator:
        yield emulator


def tls_profile(
    emulator: TokenEmulator, certs: TestCertificates, cert: ClientCertificateFiles, **extra: Any
) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": extra.pop("client_id", "billing-svc"),
        "auth_method": "tls_client_auth",
        "client_cert": str(cert.cert_path),
        "client_key": str(cert.key_path),
        "ca_bundle": str(certs.ca_path),
        "retries": {"attempts": 2, "backoff": 0.01},
        **extra,
    }


def test_tls_client_auth_over_a_ca_issued_certificate(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    registry = make_registry({"a": tls_profile(mtls, pki["certs"], pki["issued"])})
    assert registry.get_token("a").access_token in mtls.issued_tokens
    (sent,) = mtls.requests
    assert sent.auth_method == "tls_client_auth"
    assert sent.client_certificate == pki["issued"].thumbprint
    assert sent.form == (("grant_type", "client_credentials"), ("client_id", "billing-svc"))
    assert "authorization" not in sent.headers


def test_encrypted_key_with_a_passphrase_from_a_secret_source(
    mtls: TokenEmulator,
    pki: dict[str, Any],
    make_registry: MakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEY_PASSPHRASE", "pa55 phrase")
    registry = make_registry(
        {
            "a": tls_profile(
                mtls,
                pki["certs"],
                pki["encrypted"],
                client_id="enc-svc",
                client_key_passphrase={"env": "KEY_PASSPHRASE"},
            )
        }
    )
    assert registry.get_token("a").access_token in mtls.issued_tokens


@pytest.mark.parametrize(
    ("cert", "client_id", "extra"),
    [
        ("issued", "billing-svc", {}),
        ("encrypted", "enc-svc", {"client_key_passphrase": "pa55 phrase"}),
    ],
    ids=["plain-key", "encrypted-key"],
)
def test_the_deadline_cuts_off_a_dribbled_answer_over_mutual_tls(
    cert: str,
    client_id: str,
    extra: dict[str, Any],
    mtls: TokenEmulator,
    pki: dict[str, Any],
    make_registry: MakeRegistry,
) -> None:
    """The sessions that present a client certificate are watched like the shared one."""
    body = b'{"padding": "' + b"x" * 100 + b'"}'
    mtls.fail_next(Fault.dribble(body, every=0.2))
    data = tls_profile(mtls, pki["certs"], pki[cert], client_id=client_id, **extra)
    registry = make_registry({"a": {**data, "deadline": 1, "timeout": {"read": 20}}})
    before = set(threading.enumerate())
    with pytest.raises(TokenEndpointUnavailableError, match="deadline of 1s exceeded") as caught:
        registry.get_token("a")
    assert caught.value.attempts == 1 and mtls.request_count == 1
    assert mtls.requests[0].client_certificate == pki[cert].thumbprint
    assert 0 < mtls.bytes_streamed < len(body)
    left = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in left if "process_request_thread" not in t.name] == []


def test_wrong_passphrase_fails_without_showing_it(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {
            "a": tls_profile(
                mtls,
                pki["certs"],
                pki["encrypted"],
                client_id="enc-svc",
                client_key_passphrase="not the phrase",
            )
        }
    )
    with pytest.raises(ConfigError) as caught:
        registry.get_token("a")
    message = str(caught.value)
    assert "not the phrase" not in message
    assert message.startswith("<dict>: profiles.a.client_key: ")
    assert f"key file {pki['encrypted'].key_path}" in message
    assert "client_key_passphrase is wrong" in message
    assert mtls.request_count == 0


def test_encrypted_key_without_a_passphrase_says_which_key_to_set(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    """No OpenSSL prompt on the terminal, and no request: the missing key is named."""
    registry = make_registry(
        {"a": tls_profile(mtls, pki["certs"], pki["encrypted"], client_id="enc-svc")}
    )
    with pytest.raises(ConfigError) as caught:
        registry.get_token("a")
    assert caught.value.path == "profiles.a.client_key"
    assert "encrypted: set client_key_passphrase" in str(caught.value)
    assert str(pki["encrypted"].key_path) in str(caught.value)
    assert mtls.request_count == 0


@pytest.mark.parametrize(
    ("swap", "path", "words"),
    [
        ("cert-as-key", "client_key", "expected a PEM private key, found a certificate"),
        ("garbage-cert", "client_cert", "expected a PEM certificate"),
        ("missing-key", "client_key", "cannot read the file (No such file or directory)"),
        ("other-key", "client_key", "does not match the certificate"),
    ],
)
def test_unusable_client_certificate_material_names_the_option_and_file(
    swap: str,
    path: str,
    words: str,
    mtls: TokenEmulator,
    pki: dict[str, Any],
    make_registry: MakeRegistry,
    tmp_path: Path,
) -> None:
    issued: ClientCertificateFiles = pki["issued"]
    cert, key = str(issued.cert_path), str(issued.key_path)
    if swap == "cert-as-key":
        key = cert
    elif swap == "garbage-cert":
        cert = str(tmp_path / "garbage.pem")
        Path(cert).write_text("-----BEGIN NOTHING-----\nZm9v\n-----END NOTHING-----\n")
    elif swap == "missing-key":
        key = str(tmp_path / "absent.pem")
    else:
        key = str(pki["stranger"].key_path)
    data = {**tls_profile(mtls, pki["certs"], issued), "client_cert": cert, "client_key": key}
    registry = make_registry({"a": data})
    with pytest.raises(ConfigError) as caught:
        registry.get_token("a")
    assert caught.value.path == f"profiles.a.{path}"
    assert caught.value.file == "<dict>"
    assert words in str(caught.value)
    assert (key if path == "client_key" else cert) in str(caught.value)
    assert "BEGIN" not in str(caught.value)
    assert mtls.request_count == 0


@pytest.mark.parametrize("in_memory", [True, False], ids=["memfd", "private-directory"])
def test_self_signed_certificate_from_secret_sources(
    mtls: TokenEmulator,
    pki: dict[str, Any],
    make_registry: MakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
    in_memory: bool,
) -> None:
    if in_memory and not material.memory_files_available():
        pytest.skip("no memfd_create and /proc/self/fd on this platform")
    monkeypatch.setattr(material, "memory_files_available", lambda: in_memory)
    cert: ClientCertificateFiles = pki["self"]
    monkeypatch.setenv("SELF_CERT", cert.cert_path.read_text())
    monkeypatch.setenv("SELF_KEY", cert.key_path.read_text())
    registry = make_registry(
        {
            "a": tls_profile(
                mtls,
                pki["certs"],
                cert,
                client_id="self-svc",
                auth_method="self_signed_tls_client_auth",
                client_cert={"env": "SELF_CERT"},
                client_key={"env": "SELF_KEY"},
            )
        }
    )
    assert registry.get_token("a").access_token in mtls.issued_tokens
    assert mtls.requests[0].auth_method == "self_signed_tls_client_auth"
    runtime = registry.runtime("a")
    paths = sorted(runtime._files._paths.values())
    assert len(paths) == 2
    if in_memory:
        # Anonymous in-memory files: nothing on disk to leave behind, even after a crash.
        assert all(p.startswith("/proc/self/fd/") for p in paths)
        assert all(os.readlink(p).startswith("/memfd:tokenrack-") for p in paths)
        registry.close()
        assert not any(os.path.exists(p) and os.readlink(p).startswith("/memfd:") for p in paths)
        return
    written = runtime._files._directory
    assert written is not None and Path(written).name.startswith(f"tokenrack-tls-{os.getpid()}-")
    files = sorted(Path(written).iterdir())
    assert len(files) == 2 and all(os.stat(f).st_mode & 0o777 == 0o600 for f in files)
    assert os.stat(written).st_mode & 0o777 == 0o700
    registry.close()
    assert not Path(written).exists()  # key material does not outlive the registry


def test_a_registered_subject_with_the_wrong_key_is_refused(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    # A self-signed certificate with the right subject: the TLS handshake needs a trusted
    # chain, so the server refuses it before any token request.
    registry = make_registry({"a": tls_profile(mtls, pki["certs"], pki["stranger"])})
    with pytest.raises(TokenEndpointUnavailableError, match="TLS"):
        registry.get_token("a")
    assert mtls.request_count == 0


def test_self_signed_client_must_match_the_registered_thumbprint(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    # billing-svc's CA-issued certificate is trusted by TLS, but self-svc registered another one.
    registry = make_registry(
        {
            "a": tls_profile(
                mtls,
                pki["certs"],
                pki["issued"],
                client_id="self-svc",
                auth_method="self_signed_tls_client_auth",
            )
        }
    )
    with pytest.raises(InvalidClientError, match="not the registered one"):
        registry.get_token("a")


def test_other_profiles_never_present_the_certificate(
    pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    certs: TestCertificates = pki["certs"]
    optional = certs.server_context(client_cas=[certs.ca_path], require_client_certificate=False)
    clients = [EmulatorClient("billing-svc", tls_subject=pki["issued"].subject), canary_client()]
    with TokenEmulator(clients, ssl_context=optional, token_prefix=TOKEN_MARK) as emulator:
        registry = make_registry(
            {
                "mtls": tls_profile(emulator, certs, pki["issued"]),
                "secret": profile(emulator, ca_bundle=str(certs.ca_path)),
            }
        )
        registry.get_token("mtls")
        registry.get_token("secret")
        registry.get_token("secret", force_refresh=True)
        by_method = {r.auth_method: r.client_certificate for r in emulator.requests}
        assert by_method["tls_client_auth"] == pki["issued"].thumbprint
        assert by_method["client_secret_basic"] is None
        assert [r.client_certificate for r in emulator.requests].count(None) == 2


def test_without_a_certificate_the_handshake_fails(
    mtls: TokenEmulator, pki: dict[str, Any], make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {"a": profile(mtls, ca_bundle=str(pki["certs"].ca_path), auth_method="client_secret_basic")}
    )
    with pytest.raises(TokenEndpointUnavailableError, match="TLS failure"):
        registry.get_token("a")


def test_public_client_sends_only_its_id(make_registry: MakeRegistry) -> None:
    with TokenEmulator([EmulatorClient("public-app", auth_methods=frozenset({"none"}))]) as plain:
        registry = make_registry(
            {
                "a": {
                    "provider": "generic",
                    "token_url": plain.token_url,
                    "client_id": "public-app",
                    "auth_method": "none",
                }
            }
        )
        registry.get_token("a")
        assert plain.requests[0].auth_method == "none"
        assert plain.requests[0].form == (
            ("grant_type", "client_credentials"),
            ("client_id", "public-app"),
        )


def test_material_is_required(pki: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        Registry.from_dict(
            {
                "version": 1,
                "profiles": {
                    "a": {
                        "provider": "generic",
                        "token_url": "https://idp.test/t",
                        "client_id": "c",
                        "auth_method": "tls_client_auth",
                        "client_cert": "/c.pem",
                    }
                },
            }
        ).runtime("a")
    assert "profiles.a.client_key: required by auth method 'tls_client_auth', but missing" in str(
        caught.value
    )


def test_relative_certificate_and_key_paths_are_the_config_files(
    mtls: TokenEmulator,
    pki: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A literal path and a ``{file: …}`` reference, both relative, from another cwd."""
    import shutil

    import yaml

    home = tmp_path / "conf"
    (home / "tls").mkdir(parents=True)
    encrypted: ClientCertificateFiles = pki["encrypted"]
    shutil.copy(encrypted.cert_path, home / "tls" / "client.pem")
    shutil.copy(encrypted.key_path, home / "tls" / "client-key.pem")
    (home / "tls" / "client-key.pem").chmod(0o600)
    data = tls_profile(
        mtls,
        pki["certs"],
        encrypted,
        client_id="enc-svc",
        client_key_passphrase="pa55 phrase",
    )
    data["client_cert"] = "tls/client.pem"
    data["client_key"] = {"file": "tls/client-key.pem"}
    config = home / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"a": data}}))
    config.chmod(0o600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Registry.from_file(config) as registry:
        assert registry.get_token("a").access_token in mtls.issued_tokens
    assert mtls.requests[0].client_certificate == encrypted.thumbprint
