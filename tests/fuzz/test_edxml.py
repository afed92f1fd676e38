"""edXML: the parser on damaged packets, and the writer and parser round trip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas import edxml
from tests import strategies
from tests.fuzz.contract import examples, holds, mutants
from tests.paths import CONFORMANCE_FILES, FIXTURES, needs_conformance

FIXTURE_SEEDS = [p.read_bytes() for p in sorted((FIXTURES / "edxml").glob("*.edxml"))]
CONFORMANCE_SEEDS = [p.read_bytes() for p in CONFORMANCE_FILES]
TOKENS = (
    b' xmlns="rel"', b' xmlns:ds="x"', b"<Signature>", b"</Signature>", b"<![CDATA[", b"]]>",
    b"&amp;", b"&#0;", b"&#xD800;", b"<?xml version='1.0' encoding='UTF-16'?>", b"<!DOCTYPE a>",
    b"<X/>", b"<StatusCode>", b"</StatusCode>", b"<OrganId>", b"</OrganId>", b"2024/02/30",
    b"<AttachmentEncoded><Attachment><ContentTransferEncoded>", b"====",
)  # fmt: skip


def _parse(data: bytes) -> None:
    """Parse; what parses must be written and read back to the same packet."""
    packet = holds(lambda: edxml.parse(data))
    if isinstance(packet, edxml.DocumentPacket | edxml.StatusPacket):
        written = holds(lambda: edxml.write(packet), new_input=False)
        if isinstance(written, bytes):
            again = edxml.parse(written)
            assert edxml.parse(edxml.write(again)) == again


@examples(ci=200, fuzz=20_000)
@given(mutants(FIXTURE_SEEDS, TOKENS))
def test_damaged_fixture_packets(data: bytes) -> None:
    _parse(data)


@needs_conformance
@examples(ci=200, fuzz=20_000)
@given(st.data())
def test_damaged_conformance_packets(data: st.DataObject) -> None:
    _parse(data.draw(mutants(CONFORMANCE_SEEDS, TOKENS)))


@examples(ci=60, fuzz=5_000)
@given(st.binary(max_size=512) | st.text(max_size=256).map(str.encode))
def test_arbitrary_bytes(data: bytes) -> None:
    _parse(data)


@examples(ci=60, fuzz=10_000)
@given(strategies.packets)
def test_what_the_writer_writes_reads_back_the_same(packet: edxml.Packet) -> None:
    written = holds(lambda: edxml.write(packet))
    assert isinstance(written, bytes)
    assert edxml.parse(written) == packet
