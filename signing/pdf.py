"""PAdES signatures on PDF attachments, with pyhanko.

pyhanko judges each signature's integrity: the signature matches the signed bytes with an
accepted algorithm, the last signature covers the whole file, and nothing but signatures
was added after an earlier one (nor anything its certification forbids). The signer's
certificate chain is judged by `TrustStore.validate`, the same rules and reason codes as
an envelope's, at the moment the caller gives. Each signer is bound to the sending unit: an
organisation certificate of the unit or a personal certificate carrying the unit's code. A
head's personal signature followed by the clerk's organisation signature (Articles 9.1 and
10) is the usual pair.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
from collections.abc import Iterator, Sequence

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from signing.certificates import Binding, TrustStore, parse_certificate
from signing.keys import PrivateKey

_ALGORITHM_REFUSED = (
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
)


@contextlib.contextmanager
def _unreadable(what: str) -> Iterator[None]:
    """pyhanko reads what the sender wrote, and a damaged file makes it raise anything
    (AssertionError for a /Root that is no dictionary or a broken xref stream, OverflowError
    for a huge startxref, AttributeError, IndexError): all of it is pdf_malformed. Running
    out of stack or memory is not mapped: the worker's budget reports those
    (kernel.budget), as for attachments.check_pdf."""
    try:
        yield
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:
        raise TrustError(
            ReasonCode.PDF_MALFORMED, f"{what}: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None


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
    with _unreadable("cannot sign the PDF"):
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
    at: datetime.datetime | None = None,
) -> tuple[PdfVerdict, ...]:
    """Every signature must be intact, its chain trusted at `at` (None: now) and, when a
    sender is named, the sender's (its organisation or a person of it). The last must cover
    the whole file; after an earlier one, only further signatures may have been added."""
    with _unreadable("cannot read the PDF"):
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    if not embedded:
        raise TrustError(ReasonCode.PDF_UNSIGNED, "the PDF carries no signature")
    moment = at or datetime.datetime.now(datetime.UTC)
    # pyhanko needs a context to check algorithms along the path; its trust verdict is
    # ignored (TrustStore.validate decides), so it gets no CRLs and cannot fail on
    # revocation (soft-fail, nothing fetched): a second, different revocation check would
    # only disagree with ours.
    context = ValidationContext(
        trust_roots=[_asn1(c) for c in trust.roots],
        other_certs=[_asn1(c) for c in trust.intermediates],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )
    verdicts = []
    for index, signature in enumerate(embedded):
        last = index == len(embedded) - 1
        signed_at = await _check_integrity(signature, context, last=last)
        verdicts.append(_check_signer(signature, signed_at, trust, sender, binding, moment))
    return tuple(verdicts)


async def _check_integrity(
    signature: EmbeddedPdfSignature, context: ValidationContext, *, last: bool
) -> datetime.datetime | None:
    """pyhanko's part: the signature over the file, its algorithm, and what came after it.
    Returns the signing time the signer wrote, for the verdict only."""
    name = signature.field_name
    with _unreadable(f"cannot validate signature {name}"):
        status = await async_validate_pdf_signature(signature, context)
    if not (status.intact and status.valid):
        raise TrustError(
            ReasonCode.SIGNATURE_INVALID, f"signature {name} does not match the PDF's content"
        )
    if status.trust_problem_indic in _ALGORITHM_REFUSED:
        raise TrustError(
            ReasonCode.ALGORITHM_UNSUPPORTED,
            f"signature {name} uses an algorithm that is not accepted "
            f"({status.md_algorithm}, {status.pkcs7_signature_mechanism})",
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
    return status.signer_reported_dt


def _check_signer(
    signature: EmbeddedPdfSignature,
    signed_at: datetime.datetime | None,
    trust: TrustStore,
    sender: str | None,
    binding: Binding,
    at: datetime.datetime,
) -> PdfVerdict:
    """As for an envelope: the signer belongs to the sender, then the trust store judges its
    certificate with the ones the signature embeds (the store adds its intermediates)."""
    name = signature.field_name
    with _unreadable(f"cannot read the certificates of signature {name}"):
        chain = [signature.signer_cert.dump(), *(c.dump() for c in signature.other_embedded_certs)]
    signer = parse_certificate(chain[0], source=f"the signer's certificate of {name}")
    units = binding.units_of(signer)
    if sender is not None and sender not in units:
        raise TrustError(
            ReasonCode.CERTIFICATE_WRONG_UNIT,
            f"signature {name} is for {', '.join(sorted(units)) or 'no unit'}, not for {sender}",
        )
    trust.validate(chain, at=at)
    return PdfVerdict(
        field=name,
        signer=signer.subject.rfc4514_string(),
        units=tuple(sorted(units)),
        personal=binding.is_personal(signer),
        signed_at=signed_at,
    )
