"""Crafted certificates in the sender-controlled chain, each found by fuzzing escaping as
cryptography's own exception (or, for the last, accepted): now each is a TrustError.

The certificates are assembled from DER by hand and signed by the test PKI's issuing CA, so
only their content, never a bad signature, is what the checks meet."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from connectors import packing
from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from schemas import codec
from schemas import envelope as e
from signing import envelope as signatures
from signing.certificates import load_certificates
from signing.testpki import TestPki
from tests.fuzz import crafted as c
from tests.paths import FIXTURES

UNIT = c.UNIT
NOW = datetime.datetime.now(datetime.UTC)
MALFORMED, UNSUPPORTED = ReasonCode.CERTIFICATE_MALFORMED, ReasonCode.ALGORITHM_UNSUPPORTED
CASES = {
    # cryptography's InvalidVersion, raised on load.
    "version 6": (MALFORMED, {"version": 5}),
    # UnsupportedAlgorithm from public_key(), before the chain met the trust store.
    "unknown key algorithm": (
        UNSUPPORTED,
        {"key_algorithm": c.seq(c.oid("1.2.3.4.5"), c.tlv(0x05, b""))},
    ),
    # ValueError from .subject, read for the unit before the chain was checked.
    "subject with a number for a name": (
        MALFORMED,
        {"subject": c.name(("2.5.4.3", c.integer(7)))},
    ),
    "subject not UTF-8": (MALFORMED, {"subject": c.name(("2.5.4.3", c.utf8(b"\xff\xfe")))}),
    # TypeError from .subject: a bit string is only an x500UniqueIdentifier's.
    "subject with a bit string for a name": (
        MALFORMED,
        {"subject": c.name(("2.5.4.3", c.bits(b"\x01")))},
    ),
    "issuer with a number for a name": (
        MALFORMED,
        {"issuer_name": c.name(("2.5.4.3", c.integer(7)))},
    ),
    # Only warned about by cryptography (a UserWarning, an error under pytest).
    "issuer with a three-letter country": (
        MALFORMED,
        {"issuer_name": c.name(("2.5.4.6", c.tlv(0x13, b"VNM")))},
    ),
    "malformed basic constraints": (
        MALFORMED,
        {"extensions": (c.SIGNER_USAGE, c.extension(c.BASIC_CONSTRAINTS, b"\x01\x02"))},
    ),
    # DuplicateExtension.
    "key usage twice": (MALFORMED, {"extensions": (c.SIGNER_USAGE, c.SIGNER_USAGE)}),
    # ValueError from KeyUsage itself: encipherOnly without keyAgreement.
    "encipher only without key agreement": (
        MALFORMED,
        {"extensions": (c.extension(c.KEY_USAGE, c.bits(b"\x80\x80", 7)),)},
    ),
    "key usage not a bit string": (
        MALFORMED,
        {"extensions": (c.extension(c.KEY_USAGE, c.integer(3)),)},
    ),
}
CRITICAL = {
    "private": c.extension("1.3.6.1.4.1.99999.1", b"\x05\x00", critical=True),
    "ocsp no check": c.extension("1.3.6.1.5.5.7.48.1.5", b"\x05\x00", critical=True),
    "certificate policies": c.extension("2.5.29.32", c.seq(c.seq(c.oid("1.2.3.4"))), critical=True),
    "name constraints": c.extension(
        "2.5.29.30", c.seq(c.tlv(0xA0, c.seq(c.tlv(0x82, b"x.example")))), critical=True
    ),
    "inhibit any policy": c.extension("2.5.29.54", c.integer(0), critical=True),
}


@pytest.fixture(scope="module")
def registry() -> codec.Registry:
    return codec.Registry.load()


def _envelope(
    registry: codec.Registry, pki: TestPki, signer_der: bytes, key: rsa.RSAPrivateKey
) -> e.SignedEnvelope:
    document = (FIXTURES / "edxml" / "document.edxml").read_bytes()
    body = packing.build_body(document, sender=UNIT, recipients=["000.02.00.H62"], now=NOW)
    signed = signatures.sign(*e.encode(registry, body), key, [])
    issuing = pki.issuing.certificate.public_bytes(Encoding.DER)
    return dataclasses.replace(signed, certificate_chain=(signer_der, issuing))


@pytest.mark.parametrize(("reason", "crafting"), CASES.values(), ids=CASES.keys())
def test_a_crafted_signer_certificate_is_refused_before_anything_reads_it(
    registry: codec.Registry, pki: TestPki, reason: ReasonCode, crafting: dict[str, object]
) -> None:
    key = rsa.generate_private_key(65537, 2048)
    der = c.certificate(pki.issuing, key=key, **crafting)  # type: ignore[arg-type]
    with pytest.raises(TrustError) as refused:
        signatures.verify(
            _envelope(registry, pki, der, key), trust=pki.trust_store(), registry=registry, at=NOW
        )
    assert refused.value.reason == reason


@pytest.mark.parametrize(("reason", "crafting"), CASES.values(), ids=CASES.keys())
def test_a_crafted_certificate_anywhere_in_the_chain_is_refused(
    pki: TestPki, reason: ReasonCode, crafting: dict[str, object]
) -> None:
    unit = pki.unit(UNIT).certificate.public_bytes(Encoding.DER)
    der = c.certificate(pki.issuing, **crafting)  # type: ignore[arg-type]
    with pytest.raises(TrustError) as refused:
        pki.trust_store().validate([unit, der], at=NOW)
    assert refused.value.reason == reason
    with pytest.raises(TrustError) as loaded:
        load_certificates(der, source="a trust store file")
    assert loaded.value.reason == reason


@pytest.mark.parametrize("extension", CRITICAL.values(), ids=CRITICAL.keys())
def test_a_signer_with_a_critical_extension_the_validator_does_not_process_is_refused(
    registry: codec.Registry, pki: TestPki, extension: bytes
) -> None:
    """It was accepted when cryptography knew the extension (name constraints, policies):
    known to the library is not enforced by the validator."""
    key = rsa.generate_private_key(65537, 2048)
    der = c.certificate(pki.issuing, key=key, extensions=(c.SIGNER_USAGE, extension))
    with pytest.raises(TrustError) as refused:
        signatures.verify(
            _envelope(registry, pki, der, key), trust=pki.trust_store(), registry=registry, at=NOW
        )
    assert refused.value.reason == ReasonCode.CERTIFICATE_UNTRUSTED


def test_the_crafted_signer_passes_when_nothing_is_wrong_with_it(
    registry: codec.Registry, pki: TestPki
) -> None:
    """The cases above fail for their crafting alone."""
    key = rsa.generate_private_key(65537, 2048)
    der = c.certificate(pki.issuing, key=key)
    verified = signatures.verify(
        _envelope(registry, pki, der, key), trust=pki.trust_store(), registry=registry, at=NOW
    )
    assert verified.unit == UNIT
