"""PAdES signatures on PDF attachments, with pyhanko.

Validation never fetches anything (the exchange is a closed network), requires revocation
information (hard-fail on CRLs from the trust store), demands that the last signature
covers the whole file and that nothing but signatures was added after an earlier one, and
binds each signer to the sending unit: an organisation certificate of the unit or a
personal certificate carrying the unit's code. A head's personal signature followed by the
clerk's organisation signature (Articles 9.1 and 10) is the usual pair.
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
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
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
    field_name: str | None = None,
) -> bytes:
    """Add a PAdES signature by `chain[0]` (issuers after it) over the whole file; a signed
    PDF gets one more signature in a field of its own."""
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
        field_name = field_name or f"lienthong-{len(writer.prev.embedded_signatures) + 1}"
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
    field: str
    signer: str
    units: tuple[str, ...]
    personal: bool
    signed_at: datetime.datetime | None

    @property
    def kind(self) -> str:
        """`personal` (a head of the unit, Article 9.1) or `organisation` (the clerk, Art. 10)."""
        return "personal" if self.personal else "organisation"


async def validate_pdf(
    pdf: bytes,
    *,
    trust: TrustStore,
    sender: str | None,
    binding: Binding = Binding(),  # noqa: B008 (frozen)
) -> tuple[PdfVerdict, ...]:
    """Every signature must be intact, trusted and unrevoked and, when a sender is named,
    the sender's (its organisation or a person of it). The last must cover the whole file;
    after an earlier one, only further signatures may have been added."""
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
    verdicts = []
    for index, signature in enumerate(embedded):
        last = index == len(embedded) - 1
        verdicts.append(await _validate_one(signature, context, sender, binding, last=last))
    return tuple(verdicts)


async def _validate_one(
    signature: EmbeddedPdfSignature,
    context: ValidationContext,
    sender: str | None,
    binding: Binding,
    *,
    last: bool,
) -> PdfVerdict:
    name = signature.field_name
    try:
        status = await async_validate_pdf_signature(signature, context)
    except (PdfError, SigningError, ValueError) as exc:
        raise TrustError(
            ReasonCode.PDF_MALFORMED, f"cannot validate signature {name}: {exc}"
        ) from exc
    if not (status.intact and status.valid):
        raise TrustError(
            ReasonCode.SIGNATURE_INVALID, f"signature {name} does not match the PDF's content"
        )
    if last and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise TrustError(
            ReasonCode.PDF_MODIFIED_AFTER_SIGNING,
            f"the PDF was changed after its last signature {name} "
            f"(coverage {status.coverage.name if status.coverage else 'unknown'})",
        )
    level = status.modification_level
    if not last and (level is None or level > ModificationLevel.FORM_FILLING):
        raise TrustError(
            ReasonCode.PDF_MODIFIED_AFTER_SIGNING,
            f"the PDF was changed after signature {name}, beyond adding signatures "
            f"({level.name if level else 'unknown'})",
        )
    if status.docmdp_ok is False:
        raise TrustError(
            ReasonCode.PDF_MODIFIED_AFTER_SIGNING,
            f"the PDF was changed after signature {name} in a way its certification forbids",
        )
    if not status.trusted:
        reason = _FAILURES.get(status.trust_problem_indic, ReasonCode.CERTIFICATE_UNTRUSTED)
        raise TrustError(
            reason, f"the signer of {name} is not trusted ({status.trust_problem_indic})"
        )
    signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    units = binding.units_of(signer)
    if sender is not None and sender not in units:
        raise TrustError(
            ReasonCode.CERTIFICATE_WRONG_UNIT,
            f"signature {name} is for {', '.join(sorted(units)) or 'no unit'}, not for {sender}",
        )
    return PdfVerdict(
        field=name,
        signer=signer.subject.rfc4514_string(),
        units=tuple(sorted(units)),
        personal=binding.is_personal(signer),
        signed_at=status.signer_reported_dt,
    )
