"""Attachments and the PDF readers: the structure check, the text layer, the signatures."""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import zlib

from hypothesis import given
from hypothesis import strategies as st

from broker.policy import attachments
from broker.policy.check import pdf_text
from lienthong.samples import minimal_pdf
from schemas.envelope import AttachmentRef
from signing import pdf
from signing.certificates import TrustStore
from signing.testpki import TestPki
from tests.fuzz import crafted
from tests.fuzz.contract import examples, holds, mutants

SENDER = "000.00.00.H62"
TOKENS = (
    b"/Root", b"/Pages", b"/Kids", b"/Parent 2 0 R", b"/Count", b"/Length", b"/Filter",
    b"/FlateDecode", b"/Encrypt", b"/V 9", b"/Type /XRef", b"/W [1 2 1]", b"/Index",
    b"startxref", b"xref", b"trailer", b"obj", b"endobj", b"stream\n", b"endstream", b"<<",
    b">>", b"[", b"]", b"(", b")", b"R", b"0 R", b"/ByteRange", b"/Contents", b"<00>",
)  # fmt: skip


class Seeds:
    """Real and crafted PDFs, a signed one among them, made once per session."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)
        pki = TestPki()
        self.trust: TrustStore = pki.trust_store()
        unit = pki.unit(SENDER)
        signed = asyncio.run(pdf.sign_pdf(minimal_pdf("Cong van"), unit.key, unit.chain))
        stream = zlib.compress(b"BT /F1 9 Tf (Mat) Tj ET")
        self.pdfs = [
            minimal_pdf(),
            signed,
            crafted.pdf(crafted.CATALOG, crafted.PAGES, crafted.PAGE),
            crafted.pdf(
                crafted.CATALOG,
                crafted.PAGES,
                b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
                + stream
                + b"\nendstream",
            ),
        ]

    def validate(self, data: bytes) -> tuple[pdf.PdfVerdict, ...]:
        return asyncio.run(pdf.validate_pdf(data, trust=self.trust, sender=SENDER, at=self.now))


@functools.cache
def seeds() -> Seeds:
    return Seeds()


@examples(ci=120, fuzz=10_000)
@given(st.data())
def test_the_structure_check(data: st.DataObject) -> None:
    content = data.draw(mutants(seeds().pdfs, TOKENS))
    holds(lambda: attachments.check_pdf("a.pdf", content), in_worker=True)


@examples(ci=120, fuzz=10_000)
@given(st.data())
def test_the_text_layer(data: st.DataObject) -> None:
    content = data.draw(mutants(seeds().pdfs, TOKENS))
    text = holds(lambda: pdf_text(content), in_worker=True)
    assert text is None or isinstance(text, str)


@examples(ci=120, fuzz=10_000)
@given(st.data())
def test_the_signatures(data: st.DataObject) -> None:
    content = data.draw(mutants(seeds().pdfs, TOKENS))
    holds(lambda: seeds().validate(content), in_worker=True)


_MEDIA_TYPES = st.sampled_from(
    ["application/pdf", "Application/PDF; name=x", "text/plain", "", "image/svg+xml", ";"] * 3
) | st.text(max_size=40)


@examples(ci=200, fuzz=20_000)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=20),
            _MEDIA_TYPES,
            st.none() | st.binary(max_size=64) | st.deferred(lambda: st.sampled_from(seeds().pdfs)),
            st.none() | st.text(max_size=80),
            st.booleans(),
            st.integers(-(2**63), 2**63),
        ),
        max_size=3,
    )
)
def test_attachment_lists(
    items: list[tuple[str, str, bytes | None, str | None, bool, int]],
) -> None:
    """Type, size, hash and reference as a sender declares them, true or not."""
    refs = [
        AttachmentRef(
            name,
            media_type,
            hashlib.sha256(content or b"").hexdigest() if honest else "0" * 64,
            len(content) if honest and content is not None else size,
            content=content,
            reference=reference,
        )
        for name, media_type, content, reference, honest, size in items
    ]
    holds(lambda: attachments.check(refs), in_worker=True)
