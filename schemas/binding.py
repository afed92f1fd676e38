"""The edXML must say what its signed envelope says: who wrote it, to whom, which document.

A unit signs the envelope with its own key, but the edXML inside is what the receiver
stores and shows; without these checks a unit could sign a packet whose `From` is another
agency, or a revoke of another unit's document. Run by the router (broker/stages/bind.py),
by the receiving connector, by `lienthong envelope verify`, and by the sending connector
before it numbers anything.

What counts as a recipient: the OrganIds of the packet's `To` elements. `ToPlaces` are the
printed "Nơi nhận" names, free text without codes, so they address nobody. A sender may send
to some of its `To` units at a time; every envelope recipient must be one of them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from kernel.errors import BindingError
from kernel.reasons import ReasonCode
from schemas import edxml
from schemas.envelope import Body, EnvelopeBody, StatusBody, expected_status_id

KIND_OF_BUSINESS = {0: "document", 1: "revoke", 2: "update", 3: "replace"}
FOLLOW_UPS = frozenset({"revoke", "update", "replace"})
ORGAN = re.compile(r"^[0-9]{2,3}(\.[0-9]{2}){1,3}\.[A-Z][0-9A-Z]{2}$")
"""An OrganId as vendors write them (QĐ 20/2020's `000.00.00.H62`, and shorter forms)."""


def organ_of(document_id: str | None) -> str | None:
    """The agency a DocumentId names: its first comma-separated field when that is an
    OrganId (QCVN's `OrganId,yyyy/MM/dd,Code`, and the variants vendors write: other date
    layouts, full-width commas, the bare code)."""
    if not document_id:
        return None
    first = unicodedata.normalize("NFKC", document_id).split(",", 1)[0].strip()
    return first if ORGAN.match(first) else None


def referenced(packet: edxml.Packet) -> str | None:
    """The document a revoke, update or replace is about: `Bussiness/DocumentId` where the
    sender's system writes it (as the QCVN samples do), else the packet's own DocumentId
    (as lienthong's connector writes follow-ups)."""
    business = packet.business.document_id if packet.business else None
    return business or packet.document_id


def check_message_id(body: Body) -> None:
    """A document's id is a random UUID; a status's is the one `status_id` gives its sender,
    so no party can take an id another unit's message will carry."""
    if isinstance(body, StatusBody):
        if body.message_id != expected_status_id(body):
            raise BindingError(
                ReasonCode.MESSAGE_ID_INVALID,
                f"a status {body.status_code} from {body.sender} about {body.responds_to} "
                "must carry the id status_id gives it",
            )
        return
    try:
        parsed = uuid.UUID(body.message_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 4 or str(parsed) != body.message_id:
        raise BindingError(
            ReasonCode.MESSAGE_ID_INVALID,
            f"a document's message id must be a random (version 4) UUID, not {body.message_id!r}",
        )


def check(body: Body, packet: edxml.Packet | None) -> None:
    """The packet (None: the status carries none) agrees with the envelope around it."""
    check_message_id(body)
    if packet is None:
        return
    if isinstance(body, StatusBody):
        _check_status(body, packet)
        return
    _check_kind(body, packet)
    _check_author(packet, body.sender)
    if packet.document_id != body.document_id:
        raise BindingError(
            ReasonCode.DOCUMENT_ID_MISMATCH,
            f"the envelope names document {body.document_id!r}, the edXML {packet.document_id!r}",
        )
    addressed = _addressed(packet)
    stray = [r for r in body.recipients if r not in addressed]
    if stray:
        raise BindingError(
            ReasonCode.EDXML_RECIPIENT_MISMATCH,
            f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not among the edXML's "
            f"recipients ({', '.join(sorted(addressed)) or 'none'})",
        )
    if isinstance(packet, edxml.DocumentPacket):
        named = [packet.document_id]
        if body.kind in FOLLOW_UPS and packet.business is not None:
            named += [packet.business.document_id]
            named += [r.document_id for r in packet.business.replacement_info]
        for document_id in named:
            organ = organ_of(document_id)
            if organ is not None and organ != body.sender:
                raise BindingError(
                    ReasonCode.DOCUMENT_ID_WRONG_ORGAN,
                    f"the document id {document_id} names {organ}, not the sender {body.sender}",
                )


def check_response(
    status: StatusBody, packet: edxml.Packet | None, *, document_id: str | None, author: str
) -> None:
    """A status packet answers for the document its envelope's `responds_to` carried,
    whose organ is that document's sender (`author`)."""
    if not isinstance(packet, edxml.StatusPacket):
        return
    answered = [r for r in packet.response_for if r.document_id or r.organ_id]
    if not answered:
        raise BindingError(
            ReasonCode.STATUS_RESPONSE_MISMATCH, "the status packet answers for no document"
        )
    for response in answered:
        if response.organ_id != author or (document_id and response.document_id != document_id):
            raise BindingError(
                ReasonCode.STATUS_RESPONSE_MISMATCH,
                f"the status packet answers for {response.document_id or '?'} of "
                f"{response.organ_id or '?'}; {status.responds_to} is {document_id or '?'} "
                f"of {author}",
            )


def _check_kind(body: EnvelopeBody, packet: edxml.Packet) -> None:
    if isinstance(packet, edxml.StatusPacket):
        expected = "status"
    else:
        business = packet.business.business_doc_type if packet.business else None
        expected = KIND_OF_BUSINESS.get(business or 0, f"business type {business}")
    if expected != body.kind:
        raise BindingError(
            ReasonCode.KIND_MISMATCH, f"the envelope is a {body.kind}; the edXML is a {expected}"
        )


def _check_author(packet: edxml.Packet, sender: str) -> None:
    author = packet.from_.organ_id
    if author != sender:
        raise BindingError(
            ReasonCode.EDXML_SENDER_MISMATCH,
            f"the edXML says it is from {author or 'nobody'}; the envelope is signed by {sender}",
        )


def _addressed(packet: edxml.Packet) -> set[str]:
    if isinstance(packet, edxml.DocumentPacket):
        return {o.organ_id for o in packet.to if o.organ_id}
    return {r.organ_id for r in packet.response_for if r.organ_id}


def _check_status(status: StatusBody, packet: edxml.Packet) -> None:
    if not isinstance(packet, edxml.StatusPacket):
        raise BindingError(
            ReasonCode.KIND_MISMATCH, "a status envelope carries an edXML that is not a status"
        )
    _check_author(packet, status.sender)
    if packet.status_code != status.status_code:
        raise BindingError(
            ReasonCode.STATUS_RESPONSE_MISMATCH,
            f"the status packet says {packet.status_code}; the envelope {status.status_code}",
        )
