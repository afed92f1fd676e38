"""PAdES signatures on PDF attachments, with pyhanko.

Validation never fetches anything (the exchange is a closed network), requires revocation
information (hard-fail on CRLs from the trust store), demands that the last signature
covers the whole file, and binds the signer to the sending unit: an organisation
certificate of the unit or a personal certificate carrying the unit's code.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
from collections.abc import Sequence

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from signing.certificates import Binding, TrustStore
from signing.keys import PrivateKey

_FAILURES: dict[object, ReasonCode] = {
    AdESFailure.REVOKED: ReasonCode.CERTIFICATE_REVOKED,
    AdESIndeterminate.REVOKED_NO_POE: ReasonCode.CERTIFICATE_REVOKED,
    AdESIndeterminate.REVOKED_CA_NO_POE: ReasonCode.CERTIFICATE_REVOKED,
    AdESFailure.NOT_YET_VALID: ReasonCode.CERTIFICATE_NOT_YET_VALID,
    AdESIndeterminate.NOT_YET_VALID: ReasonCode.CERTIFICATE_NOT_YET_VALID,
    AdESIndeterminate.EXPIRED: ReasonCode.CERTIFICATE_EXPIRED,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: ReasonCode.CERTIFICATE_EXPIRED,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: ReasonCode.CERTIFICATE_EXPIRED,
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND: ReasonCode.CERTIFICATE_UNTRUSTED,
    AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE: ReasonCode.CERTIFICATE_UNTRUSTED,
    AdESIndeterminate.TRY_LATER: ReasonCode.REVOCATION_UNKNOWN,
    AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE: ReasonCode.REVOCATION_UNKNOWN,
    AdESIndeterminate.SIG_CONSTRAINTS_FAILURE: ReasonCode.CERTIFICATE_KEY_USAGE,
}


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


async def sign_pdf(
    pdf: bytes,
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    field_name: str = "lienthong",
) -> bytes:
    """Add a PAdES signature by `chain[0]` (issuers after it) over the whole file."""
    signer = signers.SimpleSigner(
        signing_cert=_asn1(chain[0]),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1(c) for c in chain]
        ),
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        output = await signers.async_sign_pdf(
            writer,
            signers.PdfSignatureMetadata(
                field_name=field_name,
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
            ),
            signer=signer,
        )
    except (PdfError, SigningError, ValueError) as exc:
        raise TrustError(ReasonCode.PDF_MALFORMED, f"cannot sign the PDF: {exc}") from exc
    signed: bytes = output.getvalue()
    return signed


@dataclasses.dataclass(frozen=True, slots=True)
class PdfVerdict:
    signer: str
    units: tuple[str, ...]
    personal: bool
    signed_at: datetime.datetime | None


async def validate_pdf(
    pdf: bytes,
    *,
    trust: TrustStore,
    sender: str | None,
    binding: Binding = Binding(),  # noqa: B008 (frozen)
) -> PdfVerdict:
    """The last signature must be intact, trusted, unrevoked, whole-file and, when a
    sender is named, the sender's (its organisation or a person of it)."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, KeyError) as exc:
        raise TrustError(ReasonCode.PDF_MALFORMED, f"cannot read the PDF: {exc}") from exc
    if not embedded:
        raise TrustError(ReasonCode.PDF_UNSIGNED, "the PDF carries no signature")
    context = ValidationContext(
        trust_roots=[_asn1(c) for c in trust.roots],
        other_certs=[_asn1(c) for c in trust.intermediates],
        crls=[crl.public_bytes(Encoding.DER) for crl in trust.crls],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
    try:
        status = await async_validate_pdf_signature(embedded[-1], context)
    except (PdfError, SigningError, ValueError) as exc:
        raise TrustError(ReasonCode.PDF_MALFORMED, f"cannot validate the signature: {exc}") from exc
    if not (status.intact and status.valid):
        raise TrustError(
            ReasonCode.SIGNATURE_INVALID, "the PDF's signature does not match its content"
        )
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise TrustError(
            ReasonCode.PDF_MODIFIED_AFTER_SIGNING,
            "the PDF was changed after its last signature "
            f"(coverage {status.coverage.name if status.coverage else 'unknown'})",
        )
    if not status.trusted:
        reason = _FAILURES.get(status.trust_problem_indic, ReasonCode.CERTIFICATE_UNTRUSTED)
        raise TrustError(reason, f"the PDF's signer is not trusted ({status.trust_problem_indic})")
    signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    units = binding.units_of(signer)
    if sender is not None and sender not in units:
        raise TrustError(
            ReasonCode.CERTIFICATE_WRONG_UNIT,
            f"the PDF is signed for {', '.join(sorted(units)) or 'no unit'}, not for {sender}",
        )
    return PdfVerdict(
        signer=signer.subject.rfc4514_string(),
        units=tuple(sorted(units)),
        personal=binding.is_personal(signer),
        signed_at=status.signer_reported_dt,
    )
