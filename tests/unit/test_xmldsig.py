"""The edXML's XML signature: what a sending system signs is proven, and nothing more.

The signer here follows XML-DSig's enveloped profile step by step (digest of the packet
without its Signature, SignedInfo canonicalized and signed), as a vendor's kit does; the
verifier (signing/xmldsig.py) must accept what it makes and refuse any change to it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from signing import xmldsig
from signing.testpki import Issued, TestPki
from tests.paths import CONFORMANCE, FIXTURES, needs_conformance

DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()
NOW = datetime.datetime.now(datetime.UTC)
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


def sign(
    document: bytes,
    signer: Issued,
    *,
    c14n: str = EXC_C14N,
    method: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    namespace: str | None = None,
) -> bytes:
    """An enveloped signature in the edXML header, in the edXML namespace as vendors put it
    (or in `namespace`)."""
    root = etree.fromstring(document)
    header = next(e for e in root.iter() if etree.QName(e).localname == "edXMLHeader")
    ns = namespace if namespace is not None else etree.QName(header).namespace

    def q(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    exclusive = c14n == EXC_C14N
    digest = base64.b64encode(
        hashlib.sha256(etree.tostring(root, method="c14n", exclusive=exclusive)).digest()
    ).decode()
    signature = etree.SubElement(header, q("Signature"))
    info = etree.SubElement(signature, q("SignedInfo"))
    etree.SubElement(info, q("CanonicalizationMethod"), Algorithm=c14n)
    etree.SubElement(info, q("SignatureMethod"), Algorithm=method)
    reference = etree.SubElement(info, q("Reference"), URI="")
    transforms = etree.SubElement(reference, q("Transforms"))
    etree.SubElement(
        transforms,
        q("Transform"),
        Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    )
    etree.SubElement(transforms, q("Transform"), Algorithm=c14n)
    etree.SubElement(
        reference, q("DigestMethod"), Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"
    )
    etree.SubElement(reference, q("DigestValue")).text = digest
    signed = etree.tostring(info, method="c14n", exclusive=exclusive)
    key = signer.key
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    etree.SubElement(signature, q("SignatureValue")).text = base64.b64encode(value).decode()
    data = etree.SubElement(etree.SubElement(signature, q("KeyInfo")), q("X509Data"))
    for certificate in signer.chain:
        etree.SubElement(data, q("X509Certificate")).text = base64.b64encode(
            certificate.public_bytes(Encoding.DER)
        ).decode()
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="module")
def signer(pki: TestPki) -> Issued:
    return pki.unit("000.00.00.G22", "Văn phòng Chính phủ")


def test_a_packet_without_a_signature_says_so(pki: TestPki) -> None:
    checked = xmldsig.check(DOCUMENT, pki.trust_store(), at=NOW)
    assert checked.verdict == "absent"


@pytest.mark.parametrize("c14n", [EXC_C14N, C14N])
def test_a_signature_in_the_edxml_namespace_verifies(
    pki: TestPki, signer: Issued, c14n: str
) -> None:
    signed = sign(DOCUMENT, signer, c14n=c14n)
    checked = xmldsig.check(signed, pki.trust_store(), at=NOW)
    assert checked.verdict == "valid", checked.detail
    assert checked.units == ("000.00.00.G22",)
    assert checked.signer is not None
    assert "Văn phòng Chính phủ" in checked.signer or "V" in checked.signer


def test_a_signature_in_the_xmldsig_namespace_and_ecdsa_verify(pki: TestPki) -> None:
    ecdsa = pki.unit("000.00.00.G22", kind="p256")
    signed = sign(
        DOCUMENT, ecdsa, namespace="http://www.w3.org/2000/09/xmldsig#",
        method="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    )  # fmt: skip
    assert xmldsig.check(signed, pki.trust_store(), at=NOW).verdict == "valid"


def test_any_change_to_the_signed_packet_is_invalid(pki: TestPki, signer: Issued) -> None:
    signed = sign(DOCUMENT, signer)
    changed = signed.replace(b"<CodeNumber>125<", b"<CodeNumber>126<")
    assert changed != signed
    checked = xmldsig.check(changed, pki.trust_store(), at=NOW)
    assert (checked.verdict, "digest" in checked.detail) == ("invalid", True)
    # SignedInfo changed (another digest method named): the signature over it fails.
    info = signed.replace(b"xmlenc#sha256", b"xmlenc#sha512")
    assert xmldsig.check(info, pki.trust_store(), at=NOW).verdict == "invalid"


def test_a_signer_outside_the_trust_store_is_untrusted(pki: TestPki) -> None:
    stranger = TestPki().unit("000.00.00.G22")
    checked = xmldsig.check(sign(DOCUMENT, stranger), pki.trust_store(), at=NOW)
    assert checked.verdict == "untrusted"
    assert checked.detail.startswith("certificate_untrusted")


def test_what_is_not_implemented_is_unsupported_never_valid(pki: TestPki, signer: Issued) -> None:
    signed = sign(DOCUMENT, signer).replace(
        EXC_C14N.encode(), b"http://www.w3.org/TR/1999/REC-xpath-19991116", 1
    )
    assert xmldsig.check(signed, pki.trust_store(), at=NOW).verdict == "unsupported"
    hmac = sign(DOCUMENT, signer).replace(b"xmldsig-more#rsa-sha256", b"xmldsig#hmac-sha1")
    assert xmldsig.check(hmac, pki.trust_store(), at=NOW).verdict == "unsupported"


@needs_conformance
def test_the_vendor_samples_signatures_do_not_hold() -> None:
    """The VNPT kit's sample carries a truncated certificate: never `valid`."""
    sample = (CONFORMANCE / "vnpt-sdk" / "edoc_new.edxml").read_bytes()
    checked = xmldsig.check(sample, TestPki().trust_store(), at=NOW)
    assert checked.verdict == "invalid", checked.detail


@pytest.mark.parametrize("c14n", [C14N, EXC_C14N])
def test_a_packet_lxml_cannot_canonicalise_is_invalid_not_an_error(pki: TestPki, c14n: str) -> None:
    """A relative namespace URI makes lxml's C14N raise: that was the bridge stopping on
    one crafted document; it is the document's verdict."""
    signature = (
        f'<Signature><SignedInfo><CanonicalizationMethod Algorithm="{c14n}"/>'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        '<Reference URI=""><Transforms><Transform Algorithm="'
        f'http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><Transform Algorithm="{c14n}"/>'
        '</Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<DigestValue>AAAA</DigestValue></Reference></SignedInfo>"
        "<SignatureValue>AAAA</SignatureValue></Signature>"
    ).encode()
    crafted = DOCUMENT.replace(b"<Subject>", b'<Subject xmlns:zz="relative/ns">', 1).replace(
        b"</edXMLHeader>", signature + b"</edXMLHeader>", 1
    )
    checked = xmldsig.check(crafted, pki.trust_store(), at=NOW)
    assert checked.verdict == "invalid", checked.detail
