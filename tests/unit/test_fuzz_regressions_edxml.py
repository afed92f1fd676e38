"""edXML packets whose relative namespace URIs made lxml's C14N raise C14NError past the
parser: each is now `edxml_malformed`, and a relative URI nothing canonicalises still reads."""

from __future__ import annotations

import pytest

from connectors import packing
from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from schemas import edxml

HEADER = (
    b"<edXMLEnvelope><edXMLHeader><MessageHeader>%s</MessageHeader>%s</edXMLHeader></edXMLEnvelope>"
)
PACKETS = {
    # The root's default namespace is relative, and an unknown element inherits it.
    "root": b'<edXML xmlns="rel">' + HEADER % (b"<X/>", b"") + b"</edXML>",
    "signature": b"<edXML>" + HEADER % (b"", b'<Signature xmlns="rel"/>') + b"</edXML>",
    "extension": b"<edXML>" + HEADER % (b'<X xmlns="rel"/>', b"") + b"</edXML>",
    "prefixed extension": b'<edXML xmlns:a="rel">' + HEADER % (b"<a:X/>", b"") + b"</edXML>",
}


@pytest.mark.parametrize("packet", PACKETS.values(), ids=PACKETS.keys())
def test_a_relative_namespace_uri_is_malformed(packet: bytes) -> None:
    with pytest.raises(EdxmlError) as refused:
        edxml.parse(packet)
    assert refused.value.reason == ReasonCode.EDXML_MALFORMED


def test_a_relative_root_namespace_alone_still_reads() -> None:
    """Only what is canonicalised (signature, extensions) needs an absolute URI."""
    packet = edxml.parse(
        b'<edXML xmlns="rel">' + HEADER % (b"<Subject>x</Subject>", b"") + b"</edXML>"
    )
    assert isinstance(packet, edxml.DocumentPacket)
    assert packet.subject == "x"
    assert edxml.parse(edxml.write(packet)) == packet


@pytest.mark.parametrize("value", ["Báo cáo\x00", "a\x1fb", "\ud800"])
def test_a_value_xml_cannot_hold_is_refused_by_the_writer(value: str) -> None:
    """Fields written from anywhere (the CLI's --fields file, not only the checked API)."""
    with pytest.raises(EdxmlError) as refused:
        packing.edxml_from_fields("000.00.00.H62", {"subject": value}, ["000.02.00.H62"])
    assert refused.value.reason is ReasonCode.EDXML_INVALID_VALUE
