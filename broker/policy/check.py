"""A document's policy-relevant texts: edXML fields and the text of its attachments."""

from __future__ import annotations

import dataclasses
import io
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import pypdf
import pypdf.errors

from schemas import edxml

TEXT_TYPES = ("text/plain", "text/csv", "text/markdown")
MAX_PAGES = 300
MAX_TEXT = 2_000_000


def essence(media_type: str) -> str:
    """`Application/PDF; name=x` -> `application/pdf`: the media type without parameters."""
    return media_type.split(";")[0].strip().lower()


@dataclasses.dataclass(frozen=True, slots=True)
class File:
    name: str
    media_type: str
    content: bytes | Path
    """The bytes, or a private spool file holding an attachment fetched by reference
    (kernel.claims): read in `CHUNK`s or in a worker, never whole by the service."""
    sha256: str | None = None
    """The content's SHA-256 (hex), when it was already checked against it (a carried
    attachment's signed one): not taken again for the malware record."""


@dataclasses.dataclass(frozen=True, slots=True)
class Texts:
    fields: dict[str, list[str]]
    not_read: list[str]
    """Attachments whose text could not be read (images, office files, unreadable PDFs)."""


def texts_of(
    packet: edxml.Packet,
    files: Sequence[File],
    pdf_texts: Mapping[int, str | None] | None = None,
) -> Texts:
    """`files`: every attachment, those embedded in the edXML included (screening.files_of);
    `pdf_texts`: the text of each PDF by its position in `files`, when it was read elsewhere
    (in a worker, under a budget); a PDF missing from it is not read."""
    fields: dict[str, list[str]] = {
        "subject": [],
        "content": [],
        "type_name": [],
        "attachment_text": [],
    }
    if isinstance(packet, edxml.DocumentPacket):
        fields["subject"] += [packet.subject] if packet.subject else []
        fields["content"] += [packet.content] if packet.content else []
        type_name = packet.document_type.type_name if packet.document_type else None
        fields["type_name"] += [type_name] if type_name else []
    else:
        fields["content"] += [packet.description] if packet.description else []
    not_read: list[str] = []
    for position, file in enumerate(files):
        media_type = essence(file.media_type)
        extracted: str | None = None
        content = file.content
        if media_type == "application/pdf":
            extracted = _inline_text(content) if pdf_texts is None else pdf_texts.get(position)
        if media_type in TEXT_TYPES and isinstance(content, bytes):
            fields["attachment_text"].append(content.decode("utf-8", "replace"))
        elif extracted is not None:
            fields["attachment_text"].append(extracted)
        else:
            not_read.append(file.name)
    return Texts(fields, not_read)


def _inline_text(content: bytes | Path) -> str | None:
    """`pdf_text` where no worker runs it (`policy check`): too deep reads as no text.
    A spooled file is read only in a worker."""
    if isinstance(content, Path):
        return None
    try:
        return pdf_text(content)
    except RecursionError:
        return None


_UNREADABLE = (
    pypdf.errors.PyPdfError,
    zlib.error,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    AssertionError,
    ArithmeticError,
    RuntimeError,
)
"""What pypdf raises on a damaged or hostile file, all meaning "no text to read": its own
errors (LimitReachedError for declared sizes, self-references and /Parent cycles), zlib's,
and the built-ins its parsers let through (AssertionError, AttributeError, IndexError and
KeyError on a wrong object type; OverflowError for a huge startxref; NotImplementedError,
a RuntimeError, for an unknown /Encrypt version or filter). RecursionError, a RuntimeError
too, is re-raised before it: the worker's budget decides what it means."""


def pdf_source(content: bytes | Path) -> BinaryIO:
    """What a PDF reader reads: the bytes, or a spooled file read as the reader seeks (a
    large attachment is never read whole for its structure or text)."""
    return io.BytesIO(content) if isinstance(content, bytes) else content.open("rb")


def pdf_text(content: bytes | Path) -> str | None:
    """The text layer of a PDF (bounded), or None when there is none to read. A PDF nested
    too deep to follow raises RecursionError: in a worker (kernel.budget) that holds the
    document for review rather than letting it pass with its text unread."""
    try:
        with pdf_source(content) as source:
            reader = pypdf.PdfReader(source)
            pages = [page.extract_text() or "" for page in reader.pages[:MAX_PAGES]]
    except (RecursionError, MemoryError):
        raise  # the worker's budget says what these mean
    except _UNREADABLE:
        return None
    text = "\n".join(pages)[:MAX_TEXT]
    return text if text.strip() else None
