"""The edXML against its envelope: each contradiction has its own reason code, and the
real packets of the conformance suite bind to envelopes that say what they say."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import pytest

from kernel.errors import BindingError
from kernel.reasons import ReasonCode
from schemas import binding, edxml
from schemas.envelope import EnvelopeBody, StatusBody, status_id
from tests.documents import DOCUMENT, document
from tests.paths import CONFORMANCE_FILES

SENDER, A, B = "000.00.00.H62", "000.02.00.H62", "000.03.00.H62"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def _body(packet: bytes, **changes: object) -> EnvelopeBody:
    parsed = edxml.parse(packet)
    body = EnvelopeBody(
        message_id=str(uuid.uuid4()), kind="document", sender=SENDER, recipients=(A,),
        created_at=NOW, edxml=packet, document_id=parsed.document_id,
    )  # fmt: skip
    return dataclasses.replace(body, **changes)  # type: ignore[arg-type]


def _check(body: EnvelopeBody | StatusBody, packet: bytes | None = None) -> ReasonCode | None:
    raw = packet if packet is not None else body.edxml
    try:
        binding.check(body, edxml.parse(raw) if raw else None)
    except BindingError as exc:
        return exc.reason
    return None


def _revoke(sender: str) -> bytes:
    packet = edxml.parse(document(sender, [A]))
    assert isinstance(packet, edxml.DocumentPacket)
    business = edxml.Business(business_doc_type=1, business_doc_reason="nhầm")
    return edxml.write(dataclasses.replace(packet, business=business))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("honest", None),
        ("some-of-the-to-units", None),
        ("another-author", ReasonCode.EDXML_SENDER_MISMATCH),
        ("recipient-not-in-to", ReasonCode.EDXML_RECIPIENT_MISMATCH),
        ("document-id-of-another-organ", ReasonCode.DOCUMENT_ID_WRONG_ORGAN),
        ("document-id-differs", ReasonCode.DOCUMENT_ID_MISMATCH),
        ("document-called-revoke", ReasonCode.KIND_MISMATCH),
        ("revoke-called-document", ReasonCode.KIND_MISMATCH),
        ("revoke-as-revoke", None),
        ("message-id-not-a-uuid", ReasonCode.MESSAGE_ID_INVALID),
        ("message-id-a-status-id", ReasonCode.MESSAGE_ID_INVALID),
        ("message-id-upper-case", ReasonCode.MESSAGE_ID_INVALID),
    ],
)
def test_documents(case: str, expected: ReasonCode | None) -> None:
    own = document(SENDER, [A, B])
    foreign = own.replace(b">000.00.00.H62,", b">000.00.02.H62,")
    body = {
        "honest": lambda: _body(own, recipients=(A, B)),
        "some-of-the-to-units": lambda: _body(own, recipients=(B,)),
        "another-author": lambda: _body(document(A, [A]), sender=SENDER),
        "recipient-not-in-to": lambda: _body(document(SENDER, [B]), recipients=(A,)),
        "document-id-of-another-organ": lambda: _body(foreign),
        "document-id-differs": lambda: _body(own, document_id="x"),
        "document-called-revoke": lambda: _body(own, kind="revoke"),
        "revoke-called-document": lambda: _body(_revoke(SENDER)),
        "revoke-as-revoke": lambda: _body(_revoke(SENDER), kind="revoke"),
        "message-id-not-a-uuid": lambda: _body(own, message_id="m-1"),
        "message-id-a-status-id": lambda: _body(own, message_id=status_id("m", A, "01")),
        "message-id-upper-case": lambda: _body(own, message_id=str(uuid.uuid4()).upper()),
    }[case]()  # fmt: skip
    assert _check(body) is expected


def _status(code: str = "03", **changes: object) -> StatusBody:
    about = str(uuid.uuid4())
    body = StatusBody(
        message_id=status_id(about, A, code), responds_to=about, sender=A, recipient=SENDER,
        status_code=code, created_at=NOW,
    )  # fmt: skip
    return dataclasses.replace(body, **changes)  # type: ignore[arg-type]


def test_a_status_carries_the_id_its_sender_gives_it() -> None:
    assert _check(_status()) is None
    genuine = _status()
    taken = dataclasses.replace(genuine, sender=B)
    assert _check(taken) is ReasonCode.MESSAGE_ID_INVALID
    recall = _status("13", sender=SENDER, recipient=A)
    assert _check(recall) is ReasonCode.MESSAGE_ID_INVALID
    to_a = status_id(recall.responds_to, SENDER, "13", to=A)
    assert _check(dataclasses.replace(recall, message_id=to_a)) is None


def _status_packet(author: str, code: str, organ: str, document_id: str) -> bytes:
    return edxml.write(
        edxml.StatusPacket(
            from_=edxml.model.Organization(organ_id=author),
            response_for=(edxml.model.ResponseFor(organ_id=organ, document_id=document_id),),
            status_code=edxml.StatusCode(code),
        )
    )


def test_a_status_packet_must_agree_with_its_envelope_and_its_document() -> None:
    status = _status()
    doc = f"{SENDER},2026/11/20,125/UBND-VP"
    right = _status_packet(A, "03", SENDER, doc)
    assert _check(status, right) is None
    assert _check(status, _status_packet(B, "03", SENDER, doc)) is ReasonCode.EDXML_SENDER_MISMATCH
    assert (
        _check(status, _status_packet(A, "06", SENDER, doc)) is ReasonCode.STATUS_RESPONSE_MISMATCH
    )
    assert _check(status, DOCUMENT) is ReasonCode.KIND_MISMATCH
    packet = edxml.parse(right)
    binding.check_response(status, packet, document_id=doc, author=SENDER)
    for document_id, author in ((doc, B), ("other,2026/01/01,1", SENDER)):
        with pytest.raises(BindingError) as caught:
            binding.check_response(status, packet, document_id=document_id, author=author)
        assert caught.value.reason is ReasonCode.STATUS_RESPONSE_MISMATCH


@pytest.mark.skipif(not CONFORMANCE_FILES, reason="../shared/conformance is not beside the project")
@pytest.mark.parametrize("path", CONFORMANCE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_packets_bind_to_what_they_say(path: object) -> None:
    """An envelope from the packet's own author to its own addressees binds; the same
    packet signed by anyone else does not."""
    raw = path.read_bytes()  # type: ignore[attr-defined]
    packet = edxml.parse(raw)
    author = packet.from_.organ_id
    assert author
    if isinstance(packet, edxml.StatusPacket):
        addressed = tuple(r.organ_id for r in packet.response_for if r.organ_id)
        kind = "status"
    else:
        addressed = tuple(o.organ_id for o in packet.to if o.organ_id)
        business = packet.business.business_doc_type if packet.business else 0
        kind = binding.KIND_OF_BUSINESS[business or 0]
    body = _body(raw, sender=author, recipients=addressed[:1], kind=kind)
    organ = binding.organ_of(packet.document_id)
    expected = (
        ReasonCode.DOCUMENT_ID_WRONG_ORGAN
        if isinstance(packet, edxml.DocumentPacket) and organ not in (None, author)
        else None
    )
    assert _check(body) is expected
    assert _check(dataclasses.replace(body, sender="000.99.99.H99")) is (
        ReasonCode.EDXML_SENDER_MISMATCH
    )
