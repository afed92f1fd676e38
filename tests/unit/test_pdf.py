"""PAdES on PDF attachments: a unit's signed PDF passes; every other case says why not."""

from __future__ import annotations

import datetime
import io

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils.generic import NameObject, TextStringObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from signing import pdf
from signing.testpki import Issued, TestPki

SENDER = "000.00.00.H62"
NOW = datetime.datetime.now(datetime.UTC)


async def test_a_pdf_signed_by_the_units_certificate_passes(pki: TestPki) -> None:
    unit = pki.unit(SENDER)
    signed = await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
    (verdict,) = await pdf.validate_pdf(signed, trust=pki.trust_store(), sender=SENDER)
    assert verdict.units == (SENDER,)
    assert verdict.kind == "organisation"
    assert "MDDT:000.00.00.H62" in verdict.signer


async def test_a_head_of_units_personal_signature_passes(pki: TestPki) -> None:
    head = pki.person(SENDER, "Trần Thị B", "079200000001", kind="p256")
    signed = await pdf.sign_pdf(minimal_pdf(), head.key, head.chain)
    (verdict,) = await pdf.validate_pdf(signed, trust=pki.trust_store(), sender=SENDER)
    assert verdict.kind == "personal"


async def test_the_heads_signature_then_the_clerks_both_pass(pki: TestPki) -> None:
    """Articles 9.1 and 10: the head signs, then the clerk adds the organisation's signature."""
    head = pki.person(SENDER, "Trần Thị B", "079200000001")
    unit = pki.unit(SENDER)
    signed = await pdf.sign_pdf(
        await pdf.sign_pdf(minimal_pdf(), head.key, head.chain), unit.key, unit.chain
    )
    verdicts = await pdf.validate_pdf(signed, trust=pki.trust_store(), sender=SENDER)
    assert [v.kind for v in verdicts] == ["personal", "organisation"]
    assert len({v.field for v in verdicts}) == 2


def _append_update(signed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    info = writer.root
    info[NameObject("/Lang")] = TextStringObject("vi")
    writer.update_root()  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _signer(issued: Issued) -> signers.SimpleSigner:
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(issued.certificate.public_bytes(Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            issued.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in issued.chain]
        ),
    )


async def _certify(data: bytes, issued: Issued) -> bytes:
    """A certification signature that allows no change at all, not even another signature."""
    meta = signers.PdfSignatureMetadata(
        field_name="certification", certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    out = await signers.async_sign_pdf(writer, meta, signer=_signer(issued))
    return bytes(out.getvalue())


async def _sign_sha1(data: bytes, issued: Issued) -> bytes:
    """What an old signing tool makes: a SHA-1 digest, which pyhanko's policy refuses."""
    meta = signers.PdfSignatureMetadata(
        field_name="old-tool", md_algorithm="sha1", subfilter=fields.SigSeedSubFilter.PADES
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    out = await signers.async_sign_pdf(writer, meta, signer=_signer(issued))
    return bytes(out.getvalue())


async def _case(name: str) -> tuple[bytes, TestPki]:
    pki = TestPki()
    unit = pki.unit(SENDER)
    if name == "unsigned":
        return minimal_pdf(), pki
    if name == "other-unit":
        other = pki.unit("000.03.00.H62")
        return await pdf.sign_pdf(minimal_pdf(), other.key, other.chain), pki
    if name == "expired":
        old = pki.unit(
            SENDER,
            not_before=NOW - datetime.timedelta(days=400),
            not_after=NOW - datetime.timedelta(days=2),
        )
        return await pdf.sign_pdf(minimal_pdf(), old.key, old.chain), pki
    if name == "revoked":
        pki.revoke(unit)
        return await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain), pki
    if name == "untrusted":
        stranger = TestPki().unit(SENDER)
        return await pdf.sign_pdf(minimal_pdf(), stranger.key, stranger.chain), pki
    signed = await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
    if name == "changed-after-signing":
        return _append_update(signed), pki
    if name == "tampered":
        at = signed.index(b"Van ban lien thong")
        return signed[:at] + b"X" + signed[at + 1 :], pki
    if name == "changed-between-signatures":
        return await pdf.sign_pdf(_append_update(signed), unit.key, unit.chain), pki
    if name == "second-signer-of-other-unit":
        other = pki.unit("000.03.00.H62")
        return await pdf.sign_pdf(signed, other.key, other.chain), pki
    if name == "signed-after-a-no-changes-certification":
        certified = await _certify(minimal_pdf(), unit)
        # pyhanko refuses to sign such a file; another tool might not, so play that tool.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(PdfSigner, "_enforce_certification_constraints", lambda *_: None)
            return await pdf.sign_pdf(certified, unit.key, unit.chain), pki
    if name == "sha1-digest":
        return await _sign_sha1(minimal_pdf(), unit), pki
    if name == "not-a-pdf":
        return b"%PDF-1.7 this is not really a PDF", pki
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("unsigned", ReasonCode.PDF_UNSIGNED),
        ("other-unit", ReasonCode.CERTIFICATE_WRONG_UNIT),
        ("expired", ReasonCode.CERTIFICATE_EXPIRED),
        ("revoked", ReasonCode.CERTIFICATE_REVOKED),
        ("untrusted", ReasonCode.CERTIFICATE_UNTRUSTED),
        ("changed-after-signing", ReasonCode.PDF_MODIFIED_AFTER_SIGNING),
        ("tampered", ReasonCode.SIGNATURE_INVALID),
        ("changed-between-signatures", ReasonCode.PDF_MODIFIED_AFTER_SIGNING),
        ("second-signer-of-other-unit", ReasonCode.CERTIFICATE_WRONG_UNIT),
        ("signed-after-a-no-changes-certification", ReasonCode.PDF_MODIFIED_AFTER_SIGNING),
        ("sha1-digest", ReasonCode.ALGORITHM_UNSUPPORTED),
        ("not-a-pdf", ReasonCode.PDF_MALFORMED),
    ],
)
async def test_bad_pdfs_are_refused_with_their_reason(name: str, reason: ReasonCode) -> None:
    data, pki = await _case(name)
    with pytest.raises(TrustError) as caught:
        await pdf.validate_pdf(data, trust=pki.trust_store(), sender=SENDER)
    assert caught.value.reason == reason, caught.value.message


async def test_the_signers_certificate_is_judged_at_the_moment_given(pki: TestPki) -> None:
    """Not at the signing time the PDF states: a verifier in three years' time refuses."""
    unit = pki.unit(SENDER, not_after=NOW + datetime.timedelta(days=365))
    signed = await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
    trust = pki.trust_store()
    (verdict,) = await pdf.validate_pdf(signed, trust=trust, sender=SENDER)
    assert verdict.signed_at is not None
    later = NOW + datetime.timedelta(days=3 * 365)
    with pytest.raises(TrustError) as caught:
        await pdf.validate_pdf(signed, trust=trust, sender=SENDER, at=later)
    assert caught.value.reason == ReasonCode.CERTIFICATE_EXPIRED
