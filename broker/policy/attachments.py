"""Attachments in general: allowed media types, size, the declared hash, sane PDFs.

A PDF must open, must not be encrypted (nothing in it could be checked), and must not be
bomb-like (an object count far beyond any real document's).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pyhanko.pdf_utils.reader import PdfFileReader

from broker.policy.check import essence, pdf_source
from kernel import claims
from kernel.errors import PolicyError
from kernel.reasons import ReasonCode
from kernel.settings import INLINE_ATTACHMENT_BYTES
from schemas import edxml
from schemas.envelope import AttachmentRef

ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "text/xml",
        "application/xml",
        "image/png",
        "image/jpeg",
        "image/tiff",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
    }
)
MAX_PDF_OBJECTS = 200_000
MAX_ATTACHMENTS = 100
HEADER_WINDOW = 64 * 1024
"""How far into a file its %PDF- header is looked for (after leading whitespace)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    media_types: frozenset[str] = ALLOWED_TYPES
    max_bytes: int = INLINE_ATTACHMENT_BYTES
    """Carried in the record."""
    max_referenced_bytes: int = 512 * 1024 * 1024
    """Carried by reference (kernel.claims)."""


def check_embedded(
    embedded: Sequence[edxml.Attachment], limits: Limits = Limits(), *, pdfs: bool = True
) -> None:
    """Attachments inside the edXML pass the same media-type, size and PDF checks as those
    carried beside it. They declare no hash of their own: the envelope's signature covers
    the edXML, so their bytes are bound to the sender already; they must be base64."""
    refs = []
    for position, attachment in enumerate(embedded, 1):
        name = attachment.attachment_name or f"embedded attachment {position}"
        if attachment.content is None:
            raise PolicyError(ReasonCode.ATTACHMENT_NOT_BASE64, f"{name}: not valid base64")
        refs.append(
            AttachmentRef(
                name=name,
                media_type=attachment.content_type or "",
                sha256=hashlib.sha256(attachment.content).hexdigest(),
                size=len(attachment.content),
                content=attachment.content,
            )
        )
    check(refs, limits, pdfs=pdfs)


def check(
    attachments: Sequence[AttachmentRef], limits: Limits = Limits(), *, pdfs: bool = True
) -> None:
    """Type, size and declared hash of each; with `pdfs`, each PDF's structure too (the
    router reads that in a worker instead). One carried by reference names its own SHA-256;
    its content is checked as it is fetched (kernel.claims.verified). Those carried by
    reference may be as large as `max_referenced_bytes` all together, not each: an
    envelope naming one large file a hundred times is as large as a hundred files."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise PolicyError(
            ReasonCode.ATTACHMENT_TOO_LARGE,
            f"{len(attachments)} attachments; the limit is {MAX_ATTACHMENTS}",
        )
    referenced = sum(a.size for a in attachments if a.content is None)
    if referenced > limits.max_referenced_bytes:
        raise PolicyError(
            ReasonCode.ATTACHMENT_TOO_LARGE,
            f"{referenced} bytes carried by reference; the limit is {limits.max_referenced_bytes}",
        )
    for attachment in attachments:
        media_type = essence(attachment.media_type)
        if media_type not in limits.media_types:
            raise PolicyError(
                ReasonCode.ATTACHMENT_TYPE_NOT_ALLOWED,
                f"{attachment.name}: {media_type or 'no media type'} is not carried",
            )
        content = attachment.content
        if (content is None) == (attachment.reference is None):
            raise PolicyError(
                ReasonCode.ATTACHMENT_REFERENCE_INVALID,
                f"{attachment.name}: give the content or a reference to it, exactly one",
            )
        limit = limits.max_bytes if content is not None else limits.max_referenced_bytes
        if attachment.size > limit:
            raise PolicyError(
                ReasonCode.ATTACHMENT_TOO_LARGE,
                f"{attachment.name}: {attachment.size} bytes; the limit is {limit}",
            )
        if content is None:
            if claims.digest_of(attachment.reference or "") != attachment.sha256:
                raise PolicyError(
                    ReasonCode.ATTACHMENT_REFERENCE_INVALID,
                    f"{attachment.name}: the reference does not name the declared SHA-256",
                )
            continue
        if len(content) != attachment.size or (
            hashlib.sha256(content).hexdigest() != attachment.sha256
        ):
            raise PolicyError(
                ReasonCode.ATTACHMENT_HASH_MISMATCH,
                f"{attachment.name}: the content does not match its declared SHA-256 and size",
            )
        if pdfs and media_type == "application/pdf":
            check_pdf(attachment.name, content)


def check_pdf(name: str, content: bytes | Path) -> None:
    """Its cost grows with what the sender wrote: the router runs it in a worker
    (`broker.policy.jobs`)."""
    with pdf_source(content) as source:
        _check_pdf(name, source)


def _check_pdf(name: str, source: BinaryIO) -> None:
    if not source.read(HEADER_WINDOW).lstrip()[:5] == b"%PDF-":
        raise PolicyError(ReasonCode.PDF_MALFORMED, f"{name}: not a PDF (no %PDF- header)")
    source.seek(0)
    try:
        reader = PdfFileReader(source, strict=False)
        encrypted = reader.encrypted
        objects = sum(1 for _ in reader.xrefs.explicit_refs_in_revision(0))
        reader.root.get("/Pages")
    except (RecursionError, MemoryError):
        raise  # the worker's budget says what these mean
    except Exception as exc:  # pyhanko, zlib, unsupported filters: all mean unreadable
        raise PolicyError(
            ReasonCode.PDF_MALFORMED,
            f"{name}: the PDF cannot be read: {type(exc).__name__}: {str(exc)[:300]}",
        ) from None
    if encrypted:
        raise PolicyError(ReasonCode.PDF_ENCRYPTED, f"{name}: the PDF is encrypted")
    if objects > MAX_PDF_OBJECTS:
        raise PolicyError(
            ReasonCode.PDF_MALFORMED, f"{name}: {objects} objects; this is not a document"
        )
