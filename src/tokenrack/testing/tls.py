"""Certificates made on the spot, for HTTPS and mutual-TLS tests on loopback.

Needs the ``cryptography`` package (in the ``dev`` and ``jwt`` extras); imported only when
called. Everything is written to a directory the test owns; keys are 0600.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ClientCertificateFiles",
    "TestCertificates",
    "make_certificates",
    "make_client_certificate",
]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_key(path: Path, key: Any, passphrase: str | None = None) -> None:
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.chmod(0o600)


@dataclass(frozen=True, slots=True)
class TestCertificates:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost it signed.

    Attributes:
        ca_path: PEM of the CA certificate (use as a profile's ``ca_bundle``).
        ca_key_path: PEM of the CA's key (to sign client certificates).
        cert_path: PEM of the server certificate.
        key_path: PEM of the server's private key.
    """

    __test__ = False  # not a pytest test class, despite the name

    ca_path: Path
    ca_key_path: Path
    cert_path: Path
    key_path: Path

    def server_context(
        self, *, client_cas: Sequence[Path] = (), require_client_certificate: bool = False
    ) -> ssl.SSLContext:
        """An SSL context for a server presenting the certificate.

        Args:
            client_cas: Certificates trusted to sign (or to be) client certificates.
            require_client_certificate: Refuse a handshake without a trusted client
                certificate (mutual TLS); otherwise one is asked for but optional.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        if client_cas:
            for path in client_cas:
                context.load_verify_locations(path)
            # A self-signed client certificate is its own trust anchor.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            context.verify_mode = (
                ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
            )
        return context


@dataclass(frozen=True, slots=True)
class ClientCertificateFiles:
    """A client certificate for mutual TLS.

    Attributes:
        cert_path: PEM of the certificate.
        key_path: PEM of its key (encrypted when a passphrase was given).
        subject: Its subject DN in RFC 4514 form.
        thumbprint: Its ``x5t#S256``.
    """

    cert_path: Path
    key_path: Path
    subject: str
    thumbprint: str


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(
    directory: Path, *, common_name: str = "tokenrack test CA"
) -> TestCertificates:
    """Write a CA and a loopback server certificate into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(common_name)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = TestCertificates(
        directory / "ca.pem",
        directory / "ca-key.pem",
        directory / "server.pem",
        directory / "server-key.pem",
    )
    paths.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths.ca_key_path, ca_key)
    paths.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths.key_path, key)
    return paths


def make_client_certificate(
    directory: Path,
    *,
    common_name: str,
    ca: TestCertificates | None = None,
    passphrase: str | None = None,
    key_type: str = "ec",
) -> ClientCertificateFiles:
    """Write a client certificate signed by ``ca``, or self-signed when ``ca`` is None.

    Args:
        directory: Where to write ``{common_name}.pem`` and ``{common_name}-key.pem``.
        common_name: The certificate's subject CN.
        ca: The CA to sign with; None for a self-signed certificate.
        passphrase: Encrypt the key file with it.
        key_type: ``ec`` (P-256) or ``rsa`` (2048 bits: for servers that sign with RS256 or
            PS256 only, as Microsoft Entra's certificate credentials do).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    now = _now()
    key: Any
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"key_type must be ec or rsa, not {key_type!r}")
    subject = _name(common_name)
    if ca is not None:
        issuer_cert = x509.load_pem_x509_certificate(ca.ca_path.read_bytes())
        issuer_key: Any = serialization.load_pem_private_key(ca.ca_key_path.read_bytes(), None)
        issuer = issuer_cert.subject
    else:
        issuer_key, issuer = key, subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    if ca is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        )
    certificate = builder.sign(issuer_key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    stem = common_name.replace(" ", "_")
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}-key.pem"
    der = certificate.public_bytes(serialization.Encoding.DER)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key, passphrase)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    return ClientCertificateFiles(cert_path, key_path, subject.rfc4514_string(), thumbprint)
