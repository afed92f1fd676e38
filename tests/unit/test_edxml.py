"""edXML: every conformance packet reads, writes back and reads the same; hostile XML is refused."""

from __future__ import annotations

import base64
import datetime
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from lxml import etree

from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from schemas import edxml
from schemas.edxml import model as m
from tests.paths import CONFORMANCE_FILES, FIXTURES, needs_conformance
from tests.strategies import packets

STATUS_BY_NAME = {
    "inbox_01": "01", "rejection_02": "02", "acceptance_03": "03", "assignment_04": "04",
    "processing_05": "05", "finish_06": "06", "cancellation_13": "13",
    "change-acceptance_15": "15", "change-rejection_16": "16",
}  # fmt: skip


def _independent_attachment_hashes(path: Path) -> list[str]:
    """Decode ContentTransferEncoded with the standard library alone, as a second opinion."""
    data = path.read_bytes()
    data = data[data.index(b"<") :]
    root = etree.fromstring(
        data, etree.XMLParser(recover=True, resolve_entities=False, huge_tree=True)
    )
    hashes = []
    for element in root.iter("{*}ContentTransferEncoded"):
        try:
            content = base64.b64decode("".join((element.text or "").split()), validate=True)
        except ValueError:
            continue
        hashes.append(hashlib.sha256(content).hexdigest())
    return hashes


@needs_conformance
@pytest.mark.parametrize("path", CONFORMANCE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_packet_round_trips(path: Path) -> None:
    packet = edxml.parse(path)
    written = edxml.write(packet)
    assert edxml.parse(written) == packet
    assert edxml.write(edxml.parse(written)) == written, "the writer is not stable"
    decoded = [a.sha256 for a in packet.attachments if a.content is not None]
    assert decoded == _independent_attachment_hashes(path)
    assert packet.from_.organ_id
    assert packet.document_id


@needs_conformance
def test_conformance_set_is_complete() -> None:
    assert len(CONFORMANCE_FILES) == 18


@needs_conformance
@pytest.mark.parametrize(("suffix", "code"), STATUS_BY_NAME.items())
def test_conformance_status_codes(suffix: str, code: str) -> None:
    path = next(p for p in CONFORMANCE_FILES if p.stem == f"status_{suffix}")
    packet = edxml.parse(path)
    assert isinstance(packet, m.StatusPacket)
    assert packet.status_code == code
    assert packet.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


@needs_conformance
def test_conformance_vendor_quirks() -> None:
    by_name = {f"{p.parent.name}/{p.name}": p for p in CONFORMANCE_FILES}
    bkav = edxml.parse(by_name["bkav/edoc_new.edxml"])
    assert isinstance(bkav, m.DocumentPacket)
    assert bkav.promulgation_info == m.PromulgationInfo("Tây Ninh", datetime.date(2020, 10, 30))
    assert bkav.business is not None
    assert bkav.business.business_doc_type == 0
    assert bkav.attachments[0].size == 270823
    replacement = edxml.parse(by_name["vnpt-sdk/edoc_replacement.edxml"])
    assert replacement.business is not None
    assert replacement.business.business_doc_type == m.BusinessDocType.REPLACE
    assert [r.organ_ids for r in replacement.business.replacement_info] == [
        ("000.00.00.H41", "000.00.00.H14")
    ] * 2
    assert isinstance(replacement, m.DocumentPacket)
    assert len(replacement.to) == 3
    sdk = edxml.parse(by_name["vnpt-sdk/edoc.edxml"])  # xlink undeclared, content not base64
    assert sdk.attachments[0].content is None
    assert sdk.attachments[0].raw_content == "${__StringFromFile(test.txt,,,)}"
    assert sdk.signature is not None
    assert b"xmldsig" in sdk.signature
    assert edxml.parse(by_name["vnpt-sdk/edoc_new.edxml"]).from_.organ_id == "002.00.20.H13"


def test_own_document_fixture_reads_every_field() -> None:
    packet = edxml.parse(FIXTURES / "edxml" / "document.edxml")
    assert isinstance(packet, m.DocumentPacket)
    assert [o.organ_id for o in packet.to] == ["000.02.00.H62", "000.03.00.H62"]
    assert packet.other_info == m.OtherInfo(priority=1, direction=True)
    assert [t.organ_id for t in packet.trace_headers] == [None, None]
    assert packet.trace_headers[0].timestamp == datetime.datetime(2026, 11, 20, 8, 30)
    assert packet.business == m.Business(business_doc_type=0, business_doc_reason="Văn bản mới")
    assert packet.attachments[0].content == "Xin chào liên thông".encode()
    assert len(packet.extensions) == 1
    assert b"kept though unknown" in packet.extensions[0]
    assert edxml.parse(edxml.write(packet)) == packet


def test_a_text_node_over_libxml2s_10_mb_cap_in_an_unknown_element_is_kept() -> None:
    """The first parse lifts the cap (attachments are larger); so must the re-parse that
    canonicalises an unknown element, else a crafted header stops whoever reads it."""
    source = (FIXTURES / "edxml" / "document.edxml").read_bytes()
    big = b"<Extra>" + b"A" * (11 * 1024 * 1024) + b"</Extra>"
    packet = edxml.parse(source.replace(b"<VendorNote>", big + b"<VendorNote>", 1))
    assert any(len(e) > 11 * 1024 * 1024 for e in packet.extensions)


def test_own_status_fixture() -> None:
    packet = edxml.parse(FIXTURES / "edxml" / "status.edxml")
    assert isinstance(packet, m.StatusPacket)
    assert packet.status_code == m.StatusCode.ACCEPTED
    assert packet.response_for[0].promulgation_date == datetime.date(2026, 11, 20)
    assert packet.timestamp == datetime.datetime(2026, 11, 20, 9, 0)
    written = edxml.write(packet)
    assert b"<edXML:StatusCode>03</edXML:StatusCode>" in written
    assert edxml.parse(written) == packet


def _document(body: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}<edXML xmlns="{m.NAMESPACE}"><edXMLEnvelope><edXMLHeader>'
        f"<MessageHeader><From><OrganId>000.00.00.H62</OrganId></From>{body}</MessageHeader>"
        "</edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()


XXE = _document(
    "<Subject>&xxe;</Subject>", '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
)
BILLION_LAUGHS = _document(
    "<Subject>&lol9;</Subject>",
    '<!DOCTYPE edXML [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(2, 10)).replace(
        "&lol1;", "&lol;"
    )
    + '<!ENTITY lol1 "&lol;&lol;">]>',
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(XXE, ReasonCode.EDXML_EXTERNAL_ENTITY, id="xxe"),
        pytest.param(BILLION_LAUGHS, ReasonCode.EDXML_ENTITY_EXPANSION, id="billion-laughs"),
        pytest.param(
            _document("", '<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">'),
            ReasonCode.EDXML_EXTERNAL_ENTITY,
            id="external-dtd",
        ),
        pytest.param(
            _document("", "<!DOCTYPE edXML>"), ReasonCode.EDXML_DTD_FORBIDDEN, id="doctype"
        ),
        pytest.param(b"<edXML><unclosed></edXML>", ReasonCode.EDXML_MALFORMED, id="malformed"),
        pytest.param(b"", ReasonCode.EDXML_MALFORMED, id="empty"),
        pytest.param(b"<html><body/></html>", ReasonCode.EDXML_NOT_EDXML, id="not-edxml"),
        pytest.param(
            f'<edXML xmlns="{m.NAMESPACE}"><edXMLEnvelope/></edXML>'.encode(),
            ReasonCode.EDXML_NOT_EDXML,
            id="no-header",
        ),
        pytest.param(
            _document("<Subject>" + "<b>" * 100 + "</b>" * 100 + "</Subject>"),
            ReasonCode.EDXML_TOO_DEEP,
            id="too-deep",
        ),
        pytest.param(
            _document("<OtherInfo><Priority>khẩn</Priority></OtherInfo>"),
            ReasonCode.EDXML_INVALID_VALUE,
            id="priority-not-a-number",
        ),
        pytest.param(
            _document("<StatusCode>99</StatusCode>"), ReasonCode.EDXML_INVALID_VALUE, id="status-99"
        ),
        pytest.param(
            _document("<From><OrganId>000.00.00.G22</OrganId></From>"),
            ReasonCode.EDXML_INVALID_VALUE,
            id="second-from",
        ),
        pytest.param(
            _document("<DocumentId>a,2026/01/01,1</DocumentId><DocumentId>b</DocumentId>"),
            ReasonCode.EDXML_INVALID_VALUE,
            id="second-document-id",
        ),
        pytest.param(
            _document("<To><OrganId>000.02.00.H62</OrganId><OrganId>000.00.00.G22</OrganId></To>"),
            ReasonCode.EDXML_INVALID_VALUE,
            id="two-organ-ids-in-one-to",
        ),
    ],
)
def test_bad_packets_are_refused_with_their_reason(data: bytes, reason: ReasonCode) -> None:
    with pytest.raises(EdxmlError) as caught:
        edxml.parse(data)
    assert caught.value.reason == reason


def test_a_200_mb_packet_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.edxml"
    with path.open("wb") as out:
        out.write(_document("").removesuffix(b"</edXML>"))
        out.write(b"<AttachmentEncoded><Attachment><ContentTransferEncoded>")
        chunk = b"QUFBQUFBQUFBQUFB" * 65536
        for _ in range(200):
            out.write(chunk)
        out.write(b"</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>")
    assert path.stat().st_size > 200 * 1024 * 1024
    with pytest.raises(EdxmlError) as caught:
        edxml.parse(path)
    assert caught.value.reason == ReasonCode.EDXML_TOO_LARGE


def test_an_attachment_over_its_cap_is_refused_before_decoding() -> None:
    content = base64.b64encode(b"x" * 3 * 1024 * 1024).decode()
    data = (
        _document("").removesuffix(b"</edXML>")
        + (
            "<AttachmentEncoded><Attachment><ContentTransferEncoded>"
            f"{content}</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>"
        ).encode()
    )
    with pytest.raises(EdxmlError) as caught:
        edxml.parse(data, edxml.Limits(max_attachment_bytes=1024 * 1024))
    assert caught.value.reason == ReasonCode.ATTACHMENT_TOO_LARGE
    assert edxml.parse(data).attachments[0].size == 3 * 1024 * 1024


def test_leading_length_digits_are_skipped_but_other_junk_is_not() -> None:
    assert edxml.parse(b"1212" + _document("")).from_.organ_id == "000.00.00.H62"
    with pytest.raises(EdxmlError):
        edxml.parse(b"junk" + _document(""))


@given(packets)
@settings(max_examples=150, deadline=None)
def test_any_packet_the_writer_emits_parses_back_equal(packet: m.Packet) -> None:
    assert edxml.parse(edxml.write(packet)) == packet
