"""The devstack's own TLS authority for Kafka: a CA, and a broker certificate it signs.

Kept apart from the document-signing PKI on purpose: transport trust (which broker is
this?) and document trust (which agency signed this?) have different owners and lives.
A provincial data centre replaces both files with its own CA's.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kernel.secrets import private_dir, write_private

BROKER_CN = "lienthong-kafka-broker"
"""The brokers' certificate subject; `User:CN=...` is a super user on the controller listener."""
_YEARS = datetime.timedelta(days=3 * 365)


class Authority:
    """`<dir>/ca.pem` (clients' trust anchor), `ca.key`, `broker.pem` (key + chain, 0600)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_file = directory / "ca.pem"
        self.ca_key_file = directory / "ca.key"
        self.broker_keystore = directory / "broker.pem"

    def ensure(self) -> bool:
        """Make the CA and the broker's certificate unless both exist; True if made now."""
        if self.ca_file.exists() and self.broker_keystore.exists():
            return False
        private_dir(self.dir)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("lienthong devstack Kafka CA")
        ca = _issue(
            ca_name, ca_key, ca_name, ca_key,
            x509.BasicConstraints(ca=True, path_length=0),
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
        )  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        broker = _issue(
            _name(BROKER_CN), key, ca_name, ca_key,
            x509.BasicConstraints(ca=False, path_length=None),
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
        )  # fmt: skip
        pkcs8 = serialization.PrivateFormat.PKCS8
        write_private(
            self.ca_key_file,
            ca_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()),
        )
        write_private(
            self.broker_keystore,
            key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
            + broker.public_bytes(serialization.Encoding.PEM)
            + ca.public_bytes(serialization.Encoding.PEM),
        )
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        return True


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *extensions: x509.ExtensionType,
) -> x509.Certificate:
    """A certificate for `key`, valid from a few minutes ago for three years; the basic
    constraints and key usage are critical, the rest not."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _YEARS)
    )
    for extension in extensions:
        critical = isinstance(extension, x509.BasicConstraints | x509.KeyUsage)
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())
