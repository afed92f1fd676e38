"""Outgoing documents become envelope bodies: what the sending connector signs.

An agency system sends edXML it wrote, or fields from which edXML is written here.

The edXML travels as the exact bytes the agency's system produced; extra files travel as
attachments with their SHA-256 and size, so the receiver can check them.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from broker.directory.model import check_organ_id
from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from schemas import binding, edxml
from schemas.edxml import parser as edxml_parser
from schemas.edxml.model import (
    BusinessDocType,
    Code,
    DocumentType,
    Organization,
    OtherInfo,
    PromulgationInfo,
    SignerInfo,
)
from schemas.envelope import AttachmentRef, EnvelopeBody, MessageKind, TraceEntry

_KIND_BY_BUSINESS: dict[int, MessageKind] = {
    BusinessDocType.NEW: "document",
    BusinessDocType.REVOKE: "revoke",
    BusinessDocType.UPDATE: "update",
    BusinessDocType.REPLACE: "replace",
}


def attachment(path: Path) -> AttachmentRef:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return attachment_of(path.name, media_type, path.read_bytes())


def attachment_of(name: str, media_type: str, content: bytes) -> AttachmentRef:
    return AttachmentRef(
        name=name,
        media_type=media_type,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
    )


def build_body(
    edxml_bytes: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    attachments: Sequence[AttachmentRef] = (),
    now: datetime.datetime | None = None,
) -> EnvelopeBody:
    """Read the packet and describe it, refusing early (at the sender, before anything is
    numbered) a packet the router would refuse for contradicting its envelope."""
    packet = edxml.parse(edxml_bytes)
    created_at = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    kind: MessageKind = "status"
    priority = 0
    if isinstance(packet, edxml.DocumentPacket):
        business = packet.business.business_doc_type if packet.business else None
        kind = _KIND_BY_BUSINESS.get(business or 0, "document")
        priority = (packet.other_info.priority if packet.other_info else None) or 0
    body = EnvelopeBody(
        message_id=str(uuid.uuid4()),
        kind=kind,
        sender=check_organ_id(sender),
        recipients=tuple(check_organ_id(r) for r in recipients),
        created_at=created_at,
        edxml=edxml_bytes,
        document_id=packet.document_id,
        priority=priority,
        attachments=tuple(attachments),
        trace=(TraceEntry(organ_id=sender, at=created_at, action="signed"),),
    )
    binding.check(body, packet)
    return body


def numbered(body: EnvelopeBody, number: int, issued_on: datetime.date) -> EnvelopeBody | None:
    """The body of a new document the outgoing register numbers, or None when it keeps its own.

    The rule (Decree 30/2020, Article 15 and Appendix III: the outgoing register's number is
    the document's Số, one number on paper and electronically): a new document that comes
    without a `CodeNumber` is issued by the register, so the register number becomes its
    `CodeNumber`, it is promulgated on `issued_on` unless it says otherwise, and a missing
    `DocumentId` is written as QCVN 102:2016 builds it (`OrganId,yyyy/MM/dd,number/notation`),
    so the receivers, the register and any later revoke name it alike. A document that comes
    with a `CodeNumber` was numbered by the unit's own document system: that number is printed
    on its signed original, and Decree 30 lets a unit keep several number series (each type of
    legal normative document, secret documents, councils) that one register counter cannot
    follow, so the register adopts it as the entry's Số và ký hiệu rather than refusing it or
    rewriting a signed number. Revokes, updates and replacements name the document they
    follow up and are sent as written. An unnumbered packet carrying an XML signature cannot
    be numbered without breaking that signature: it is refused before it takes a number.
    """
    if body.kind != "document":
        return None
    packet = edxml.parse(body.edxml)
    if not isinstance(packet, edxml.DocumentPacket):
        return None
    code = packet.code or Code()
    if code.code_number is not None:
        return None
    root = _tree(body.edxml)
    if packet.signature is not None or any(_local(e) == "Signature" for e in root.iter()):
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE,
            "the edXML is signed but has no CodeNumber: number it before signing it, since"
            " writing the register's number in would break its signature",
        )
    info = packet.promulgation_info or PromulgationInfo()
    promulgated = info.promulgation_date or issued_on
    day = promulgated if isinstance(promulgated, datetime.date) else issued_on
    code_text = f"{number}/{code.code_notation}" if code.code_notation else str(number)
    document_id = packet.document_id or f"{body.sender},{day:%Y/%m/%d},{code_text}"
    expected = dataclasses.replace(
        packet,
        code=Code(str(number), code.code_notation),
        promulgation_info=dataclasses.replace(info, promulgation_date=promulgated),
        document_id=document_id,
    )
    edxml_bytes = _write_number(root, number, issued_on, document_id)
    written = edxml.parse(edxml_bytes)
    if written != expected:  # the parser reads the edited packet otherwise than intended
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE,
            "the register's number cannot be written into this edXML; give it a CodeNumber",
        )
    renumbered = dataclasses.replace(body, edxml=edxml_bytes, document_id=document_id)
    binding.check(renumbered, written)
    return renumbered


# What precedes each element `_write_number` may add to MessageHeader, nearest first
# (QCVN 102:2016's order, as schemas/edxml/writer.py writes it).
_BEFORE = {
    "DocumentId": ("To", "From"),
    "Code": ("DocumentId", "To", "From"),
    "PromulgationInfo": ("Code", "DocumentId", "To", "From"),
}


def _tree(data: bytes) -> etree._Element:
    """The packet's XML as the edXML parser reads it (no DTD, nothing fetched, capped)."""
    return edxml_parser._parse_xml(edxml_parser._read(data, edxml.Limits()))


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _named(parent: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in parent if _local(child) == name]


def _element(parent: etree._Element, name: str, before: Sequence[str] = ()) -> etree._Element:
    """`parent`'s child `name`, added in the standard's place (after the last of the first
    of `before` present, else first) in `parent`'s namespace when it has none."""
    found = _named(parent, name)
    if found:
        return found[0]
    namespace = etree.QName(parent).namespace
    added = etree.Element(f"{{{namespace}}}{name}" if namespace else name)
    position = 0
    for preceding in before:
        present = _named(parent, preceding)
        if present:
            position = parent.index(present[-1]) + 1
            break
    parent.insert(position, added)
    return added


def _write_number(
    root: etree._Element, number: int, issued_on: datetime.date, document_id: str
) -> bytes:
    """The agency's own packet with the register's number written in: `CodeNumber`, and a
    `DocumentId` and `PromulgationDate` where it has none. Everything else it wrote (elements
    and attributes the edXML model does not name, formatting) is kept as written."""
    header = [h for e in _named(root, "edXMLEnvelope") for h in _named(e, "edXMLHeader")]
    message = _named(header[0], "MessageHeader")[0]
    found = _named(message, "DocumentId")
    if not found or not (found[0].text or "").strip():
        _element(message, "DocumentId", _BEFORE["DocumentId"]).text = document_id
    code = _element(message, "Code", _BEFORE["Code"])
    _element(code, "CodeNumber").text = str(number)
    info = _element(message, "PromulgationInfo", _BEFORE["PromulgationInfo"])
    date = _named(info, "PromulgationDate")
    if not date or not (date[0].text or "").strip():
        _element(info, "PromulgationDate", ("Place",)).text = f"{issued_on:%Y/%m/%d}"
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


_FIELDS = {
    "subject", "content", "type", "type_name", "code_number", "code_notation", "place",
    "promulgation_date", "due_date", "signer_name", "signer_position", "competence",
    "priority", "business_doc_type", "business_doc_reason", "document_id", "to_places",
    "organ_name",
}  # fmt: skip


def edxml_from_fields(sender: str, fields: Mapping[str, Any], to: Sequence[str]) -> bytes:
    """An edXML packet written from an agency system's fields, for systems without edXML,
    addressed (`To`) to the units it is sent to.

    `subject` is required; dates are YYYY-MM-DD; the document id defaults to
    `sender,date,number/notation` as QCVN 102:2016 builds it.
    """
    unknown = set(fields) - _FIELDS
    if unknown:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE, f"unknown fields: {', '.join(sorted(unknown))}"
        )
    subject = fields.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise EdxmlError(ReasonCode.EDXML_INVALID_VALUE, "a document needs a subject")
    promulgated = _date(fields, "promulgation_date") or datetime.date.today()
    number, notation = fields.get("code_number"), fields.get("code_notation")
    document_id = fields.get("document_id") or (
        f"{sender},{promulgated:%Y/%m/%d},{number}/{notation}" if number and notation else None
    )
    packet = edxml.DocumentPacket(
        from_=Organization(organ_id=check_organ_id(sender), organ_name=_text(fields, "organ_name")),
        to=tuple(Organization(organ_id=check_organ_id(unit)) for unit in to),
        document_id=_text_value(document_id),
        code=Code(_text(fields, "code_number"), _text(fields, "code_notation")),
        promulgation_info=PromulgationInfo(_text(fields, "place"), promulgated),
        document_type=DocumentType(type=_int(fields, "type"), type_name=_text(fields, "type_name")),
        subject=subject.strip(),
        content=_text(fields, "content"),
        signer_info=SignerInfo(
            competence=_text(fields, "competence"),
            position=_text(fields, "signer_position"),
            full_name=_text(fields, "signer_name"),
        ),
        due_date=_date(fields, "due_date"),
        other_info=OtherInfo(priority=_int(fields, "priority") or 0),
        business=edxml.Business(
            business_doc_type=_int(fields, "business_doc_type") or 0,
            business_doc_reason=_text(fields, "business_doc_reason"),
        ),
        to_places=tuple(str(p) for p in fields.get("to_places") or ()),
    )
    return edxml.write(packet)


def _text_value(value: object) -> str | None:
    return str(value).strip() or None if value is not None else None


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    return _text_value(fields.get(name))


def _int(fields: Mapping[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE, f"{name} must be a number, not {value!r}"
        ) from None


def _date(fields: Mapping[str, Any], name: str) -> datetime.date | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE, f"{name} must be a YYYY-MM-DD date, not {value!r}"
        ) from None


def check_attachments(body: EnvelopeBody) -> None:
    """Each attachment's content is what its declared SHA-256 and size say."""
    for attachment in body.attachments:
        if attachment.content is None:
            continue
        if (
            len(attachment.content) != attachment.size
            or hashlib.sha256(attachment.content).hexdigest() != attachment.sha256
        ):
            raise EdxmlError(
                ReasonCode.ATTACHMENT_HASH_MISMATCH,
                f"{attachment.name}: the content does not match its declared SHA-256 and size",
            )
