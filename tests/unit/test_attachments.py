"""Attachments in general: types, sizes, declared hashes, and PDFs that can be checked."""

from __future__ import annotations

import dataclasses
import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from broker.policy import attachments
from connectors.packing import attachment_of
from kernel.errors import PolicyError
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from schemas.envelope import AttachmentRef


def _encrypted_pdf() -> bytes:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(minimal_pdf())))
    writer.encrypt("chu-so-huu", "nguoi-doc")  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_ordinary_attachments_pass() -> None:
    attachments.check(
        [
            attachment_of("qd.pdf", "application/pdf", minimal_pdf()),
            attachment_of("ghi-chu.txt", "text/plain; charset=utf-8", "Kính gửi".encode()),
            attachment_of(
                "bang.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                b"PK",
            ),
        ]
    )


PDF, TXT, EXE = "application/pdf", "text/plain", "application/x-msdownload"
HUGE = b"%PDF-" + b"0" * (11 * 1024 * 1024)
LYING = dataclasses.replace(attachment_of("a.txt", TXT, b"that"), content=b"khac")


@pytest.mark.parametrize(
    ("attachment", "reason"),
    [
        (attachment_of("setup.exe", EXE, b"MZ"), ReasonCode.ATTACHMENT_TYPE_NOT_ALLOWED),
        (attachment_of("big.pdf", PDF, HUGE), ReasonCode.ATTACHMENT_TOO_LARGE),
        (LYING, ReasonCode.ATTACHMENT_HASH_MISMATCH),
        (attachment_of("fake.pdf", PDF, b"<html>not a pdf</html>"), ReasonCode.PDF_MALFORMED),
        (attachment_of("broken.pdf", PDF, b"%PDF-1.7\n1 0 obj <<"), ReasonCode.PDF_MALFORMED),
        (attachment_of("locked.pdf", PDF, _encrypted_pdf()), ReasonCode.PDF_ENCRYPTED),
    ],
    ids=["type", "size", "hash", "not-pdf", "broken-pdf", "encrypted-pdf"],
)
def test_refused_attachments(attachment: AttachmentRef, reason: ReasonCode) -> None:
    with pytest.raises(PolicyError) as caught:
        attachments.check([attachment])
    assert caught.value.reason == reason
