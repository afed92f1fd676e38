"""Hand-written PDFs that made pyhanko and pypdf raise their own exceptions past the three
PDF readers (the structure check, the text layer, the signature validator): each is now a
reason code, or no text for the text layer, whose answer is "nothing to read"."""

from __future__ import annotations

import datetime

import pytest

from broker.policy.attachments import check_pdf
from broker.policy.check import pdf_text
from kernel.errors import PolicyError, TrustError
from kernel.reasons import ReasonCode
from signing import pdf
from signing.testpki import TestPki
from tests.fuzz import crafted as c


def _xref_stream(widths: bytes) -> bytes:
    """Objects 1-3 and a cross-reference stream of damaged /W, at the true startxref."""
    out = bytearray(b"%PDF-1.7\n")
    for number, body in enumerate((c.CATALOG, c.PAGES, c.PAGE), 1):
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    at = len(out)
    entries = b"\x01\x00\x09\x00" * 4
    out += (
        b"4 0 obj\n<< /Type /XRef /Size 5 /Root 1 0 R /W " + widths
        + b" /Length %d >>\nstream\n" % len(entries) + entries + b"\nendstream\nendobj\n"
    )  # fmt: skip
    out += b"startxref\n%d\n%%%%EOF\n" % at
    return bytes(out)


PDFS = {
    # AssertionError in pyhanko: the trailer's /Root is an integer or an array.
    "root is a number": c.pdf(b"42"),
    "root is an array": c.pdf(b"[1 2]"),
    # AttributeError in pyhanko: /Root a direct number, not a reference.
    "root is a direct number": c.pdf(c.CATALOG, c.PAGES, c.PAGE, trailer=b"/Root 5"),
    # OverflowError in pyhanko and pypdf.
    "startxref past any file": c.pdf(c.CATALOG, c.PAGES, c.PAGE, startxref=b"9" * 30),
    # AssertionError and IndexError in pyhanko's xref stream reader.
    "xref stream with a negative width": _xref_stream(b"[1 -2 1]"),
    "xref stream with two widths": _xref_stream(b"[1 2]"),
    # NotImplementedError in pypdf: an /Encrypt version it does not know.
    "encryption version 9": c.pdf(
        c.CATALOG,
        c.PAGES,
        c.PAGE,
        b"<< /Filter /Standard /V 9 /R 9 /O (x) /U (y) /P -1 >>",
        trailer=b"/Root 1 0 R /Encrypt 4 0 R /ID [(a)(a)]",
    ),
    # LimitReachedError in pypdf: an xref section declared longer than the file.
    "xref section past the file": c.pdf(c.CATALOG, c.PAGES, c.PAGE).replace(
        b"xref\n0 4\n", b"xref\n0 99999999\n"
    ),
    # LimitReachedError in pypdf: pages that are their own parent's parent.
    "pages in a cycle": c.pdf(
        c.CATALOG,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 4 0 R >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 5 5] >>",
        b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
    ),
}
NOW = datetime.datetime.now(datetime.UTC)


READABLE_STRUCTURE = {"pages in a cycle"}
"""pyhanko opens it and counts its objects; the cycle is the text layer's to meet."""


@pytest.mark.parametrize("name", PDFS)
def test_the_structure_check_answers_with_a_reason(name: str) -> None:
    if name in READABLE_STRUCTURE:
        check_pdf("a.pdf", PDFS[name])
        return
    with pytest.raises(PolicyError) as refused:
        check_pdf("a.pdf", PDFS[name])
    assert refused.value.reason == ReasonCode.PDF_MALFORMED


@pytest.mark.parametrize("content", PDFS.values(), ids=PDFS.keys())
def test_the_text_layer_reads_nothing(content: bytes) -> None:
    assert pdf_text(content) is None


@pytest.mark.parametrize("content", PDFS.values(), ids=PDFS.keys())
async def test_the_signature_validator_answers_with_a_reason(pki: TestPki, content: bytes) -> None:
    with pytest.raises(TrustError) as refused:
        await pdf.validate_pdf(content, trust=pki.trust_store(), sender=None, at=NOW)
    assert refused.value.reason in (ReasonCode.PDF_MALFORMED, ReasonCode.PDF_UNSIGNED)


@pytest.mark.parametrize(
    "name", ["root is a number", "startxref past any file", "xref stream with two widths"]
)
async def test_a_pdf_that_cannot_be_read_is_not_signed_either(pki: TestPki, name: str) -> None:
    unit = pki.unit("000.00.00.H62")
    with pytest.raises(TrustError) as refused:
        await pdf.sign_pdf(PDFS[name], unit.key, unit.chain)
    assert refused.value.reason == ReasonCode.PDF_MALFORMED
