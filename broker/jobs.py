"""Work whose cost an attacker chooses (a large edXML, a PDF's structure, text and
signatures), as jobs for the worker processes (`kernel.budget`): top-level functions of
picklable arguments that answer with values, never with our exceptions, so nothing
depends on an error surviving a pickle."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import hashlib
import weakref
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from broker.policy import attachments
from broker.policy.check import pdf_text
from broker.policy.rules import Hit
from kernel.errors import PolicyError, Rejected, TrustError
from kernel.reasons import ReasonCode
from schemas import edxml
from signing import pdf
from signing.certificates import TrustStore

BUDGET_RULE = "budget-attachment-too-complex"


def budget_hit(name: str, why: str) -> Hit:
    """A job over budget holds its document for review: neither refused nor passed unread."""
    return Hit(BUDGET_RULE, "Đ9.2", ReasonCode.ATTACHMENT_TOO_COMPLEX.value, "hold",
               "attachment", f"{name}: {why}")  # fmt: skip


def parse_edxml(data: bytes) -> edxml.Packet | tuple[str, str]:
    """The packet, or (reason code, message) of why it is not one."""
    try:
        return edxml.parse(data)
    except Rejected as exc:
        return (exc.reason.value, exc.message)


@dataclasses.dataclass(frozen=True, slots=True)
class PdfRead:
    problem: tuple[str, str] | None
    """(reason code, message) the PDF is refused for, or None."""
    text: str | None
    signatures: Signatures | None = None
    """Validated in the same job when the policy asks for it (`Validation`)."""


def _whole(content: bytes | Path) -> bytes:
    """A spooled attachment (kernel.claims) read whole in the worker, whose memory budget
    bounds it (one too big for that is over budget, and held for review): pyhanko's
    validation hashes the signed ranges of a buffer."""
    return content if isinstance(content, bytes) else content.read_bytes()


def read_pdf(name: str, content: bytes | Path, validation: Validation | None = None) -> PdfRead:
    """Its structure first (unencrypted, readable, a sane object count), then its
    signatures when the policy asks, then its text, each read from the spooled file as the
    reader seeks (the signatures excepted: `_whole`). One trip to a worker per PDF: two
    doubled the hand-over, and the document waited for both in turn."""
    try:
        attachments.check_pdf(name, content)
    except PolicyError as exc:
        return PdfRead((exc.reason.value, exc.message), None)
    signatures = None
    if validation is not None:
        signatures = validate_pdf(content, validation)
    return PdfRead(None, pdf_text(content), signatures)


@dataclasses.dataclass(frozen=True, eq=False)
class Trust:
    """A trust store as DER bytes: what crosses into a worker (certificates do not pickle).
    Equal by digest, so a worker's cache compares 32 bytes, not every certificate."""

    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    require_revocation: bool
    digest: bytes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trust) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


_BUNDLES: weakref.WeakKeyDictionary[TrustStore, Trust] = weakref.WeakKeyDictionary()


def bundle(store: TrustStore) -> Trust:
    """The store as a `Trust`, made once per loaded store (the router reloads it rarely)."""
    found = _BUNDLES.get(store)
    if found is None:
        certificates = tuple(
            c.public_bytes(Encoding.DER) for c in [*store.roots, *store.intermediates]
        )
        crls = tuple(c.public_bytes(Encoding.DER) for c in store.crls)
        digest = hashlib.sha256(
            b"".join(hashlib.sha256(part).digest() for part in (*certificates, b"|", *crls))
            + bytes([store.require_revocation])
        ).digest()
        found = _BUNDLES[store] = Trust(certificates, crls, store.require_revocation, digest)
    return found


@functools.lru_cache(maxsize=4)
def _store(trust: Trust) -> TrustStore:
    """Built once per worker and trust store, not once per job."""
    return TrustStore(
        [x509.load_der_x509_certificate(c) for c in trust.certificates],
        [x509.load_der_x509_crl(c) for c in trust.crls],
        require_revocation=trust.require_revocation,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Signatures:
    verdicts: tuple[pdf.PdfVerdict, ...] = ()
    failure: tuple[str, str] | None = None
    """(reason code, message) of a signature that does not hold, or of none at all."""


@dataclasses.dataclass(frozen=True, slots=True)
class Validation:
    """What a worker needs, besides the file, to validate a PDF's signatures."""

    trust: Trust
    sender: str | None
    at: datetime.datetime | None


def validate_pdf(content: bytes | Path, validation: Validation) -> Signatures:
    return asyncio.run(
        signatures_of(_whole(content), _store(validation.trust), validation.sender, validation.at)
    )


async def signatures_of(
    content: bytes | Path, trust: TrustStore, sender: str | None, at: datetime.datetime | None
) -> Signatures:
    try:
        return Signatures(
            await pdf.validate_pdf(_whole(content), trust=trust, sender=sender, at=at)
        )
    except TrustError as exc:
        return Signatures(failure=(exc.reason.value, exc.message))
