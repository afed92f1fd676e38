"""Writes edXML packets strictly: one namespace prefix, the standard's element order and
spellings (`Bussiness` included), yyyy/MM/dd dates, and only the elements that carry a value."""

from __future__ import annotations

import base64
import datetime

from lxml import etree

from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from schemas.edxml import model as m

_NS = m.NAMESPACE
_NSMAP = {"edXML": _NS}


def write(packet: m.Packet) -> bytes:
    """The packet as edXML bytes. A value XML cannot hold (a control character, a lone
    surrogate), from wherever the fields came, is `edxml_invalid_value`, not lxml's error."""
    try:
        return _write(packet)
    except ValueError as exc:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE, f"a value edXML cannot hold: {str(exc)[:200]}"
        ) from None


def _write(packet: m.Packet) -> bytes:
    root = etree.Element(_q("edXML"), nsmap=_NSMAP)
    envelope = _sub(root, "edXMLEnvelope")
    header = _sub(envelope, "edXMLHeader")
    message = _sub(header, "MessageHeader")
    _organization(message, "From", packet.from_)
    if isinstance(packet, m.DocumentPacket):
        _document_fields(message, packet)
    else:
        _status_fields(message, packet)
    for extension in packet.extensions:
        message.append(etree.fromstring(extension))
    if packet.trace_headers or packet.business is not None:
        trace_list = _sub(header, "TraceHeaderList")
        for trace in packet.trace_headers:
            element = _sub(trace_list, "TraceHeader")
            _leaf(element, "OrganId", trace.organ_id)
            _leaf(element, "Timestamp", _format_timestamp(trace.timestamp))
        if packet.business is not None:
            _business(trace_list, packet.business)
    if packet.signature is not None:
        header.append(etree.fromstring(packet.signature))
    if packet.manifest or packet.manifest_version is not None:
        manifest = _sub(_sub(envelope, "edXMLBody"), "edXMLManifest")
        if packet.manifest_version is not None:
            manifest.set("version", packet.manifest_version)
        for reference in packet.manifest:
            element = _sub(manifest, "Reference")
            _leaf(element, "ContentId", reference.content_id)
            _leaf(element, "ContentType", reference.content_type)
            _leaf(element, "Description", reference.description)
            _leaf(element, "AttachmentName", reference.attachment_name)
    if packet.attachments:
        encoded = _sub(root, "AttachmentEncoded")
        for attachment in packet.attachments:
            element = _sub(encoded, "Attachment")
            _leaf(element, "ContentId", attachment.content_id)
            _leaf(element, "AttachmentName", attachment.attachment_name)
            _leaf(element, "Description", attachment.description)
            _leaf(element, "ContentType", attachment.content_type)
            content = (
                base64.b64encode(attachment.content).decode("ascii")
                if attachment.content is not None
                else attachment.raw_content or ""
            )
            _sub(element, "ContentTransferEncoded").text = content
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _document_fields(message: etree._Element, packet: m.DocumentPacket) -> None:
    for organization in packet.to:
        _organization(message, "To", organization)
    _leaf(message, "DocumentId", packet.document_id)
    if packet.code is not None:
        code = _sub(message, "Code")
        _leaf(code, "CodeNumber", packet.code.code_number)
        _leaf(code, "CodeNotation", packet.code.code_notation)
    if packet.promulgation_info is not None:
        info = _sub(message, "PromulgationInfo")
        _leaf(info, "Place", packet.promulgation_info.place)
        _leaf(info, "PromulgationDate", _format_date(packet.promulgation_info.promulgation_date))
    if packet.document_type is not None:
        kind = _sub(message, "DocumentType")
        _leaf(kind, "Type", packet.document_type.type)
        _leaf(kind, "TypeDetail", packet.document_type.type_detail)
        _leaf(kind, "TypeName", packet.document_type.type_name)
    _leaf(message, "Subject", packet.subject)
    _leaf(message, "Content", packet.content)
    if packet.signer_info is not None:
        signer = _sub(message, "SignerInfo")
        _leaf(signer, "Competence", packet.signer_info.competence)
        _leaf(signer, "Position", packet.signer_info.position)
        _leaf(signer, "FullName", packet.signer_info.full_name)
    _leaf(message, "DueDate", _format_date(packet.due_date))
    if packet.other_info is not None:
        other = _sub(message, "OtherInfo")
        extra = packet.other_info
        _leaf(other, "Priority", extra.priority)
        _leaf(other, "SphereOfPromulgation", extra.sphere_of_promulgation)
        _leaf(other, "TyperNotation", extra.typer_notation)
        _leaf(other, "PromulgationAmount", extra.promulgation_amount)
        _leaf(other, "PageAmount", extra.page_amount)
        _leaf(other, "Direction", None if extra.direction is None else str(extra.direction).lower())
        if extra.appendixes:
            appendixes = _sub(other, "Appendixes")
            for appendix in extra.appendixes:
                _leaf(appendixes, "Appendix", appendix)
    _response_for(message, packet.response_for)
    _leaf(message, "SteeringType", packet.steering_type)
    if packet.to_places:
        places = _sub(message, "ToPlaces")
        for place in packet.to_places:
            _leaf(places, "Place", place)


def _status_fields(message: etree._Element, packet: m.StatusPacket) -> None:
    _response_for(message, packet.response_for)
    _staff_info(message, packet.staff_info)
    _leaf(message, "StatusCode", packet.status_code.value)
    _leaf(message, "Description", packet.description)
    _leaf(message, "Timestamp", _format_timestamp(packet.timestamp))


def _response_for(message: etree._Element, responses: tuple[m.ResponseFor, ...]) -> None:
    for response in responses:
        element = _sub(message, "ResponseFor")
        _leaf(element, "OrganId", response.organ_id)
        _leaf(element, "Code", response.code)
        _leaf(element, "PromulgationDate", _format_date(response.promulgation_date))
        _leaf(element, "DocumentId", response.document_id)


def _business(trace_list: etree._Element, business: m.Business) -> None:
    element = _sub(trace_list, "Bussiness")
    _leaf(element, "DocumentId", business.document_id)
    _leaf(element, "BussinessDocType", business.business_doc_type)
    _leaf(element, "BussinessDocReason", business.business_doc_reason)
    _leaf(element, "Paper", business.paper)
    if business.replacement_info:
        replacements = _sub(element, "ReplacementInfoList")
        for info in business.replacement_info:
            replacement = _sub(replacements, "ReplacementInfo")
            _leaf(replacement, "DocumentId", info.document_id)
            organ_ids = _sub(replacement, "OrganIdList")
            for organ_id in info.organ_ids:
                _leaf(organ_ids, "OrganId", organ_id)
    _staff_info(element, business.staff_info)
    for extension in business.extensions:
        element.append(etree.fromstring(extension))


def _staff_info(parent: etree._Element, staff: m.StaffInfo | None) -> None:
    if staff is None:
        return
    element = _sub(parent, "StaffInfo")
    _leaf(element, "Department", staff.department)
    _leaf(element, "Staff", staff.staff)
    _leaf(element, "Email", staff.email)
    _leaf(element, "Mobile", staff.mobile)


def _organization(parent: etree._Element, name: str, organization: m.Organization) -> None:
    element = _sub(parent, name)
    _leaf(element, "OrganId", organization.organ_id)
    _leaf(element, "OrganizationInCharge", organization.organization_in_charge)
    _leaf(element, "OrganName", organization.organ_name)
    _leaf(element, "OrganAdd", organization.organ_add)
    _leaf(element, "Email", organization.email)
    _leaf(element, "Telephone", organization.telephone)
    _leaf(element, "Fax", organization.fax)
    _leaf(element, "Website", organization.website)


def _format_date(value: m.DateValue) -> str | None:
    return value.strftime("%Y/%m/%d") if isinstance(value, datetime.date) else value


def _format_timestamp(value: datetime.datetime | str | None) -> str | None:
    return value.strftime("%Y/%m/%d %H:%M:%S") if isinstance(value, datetime.datetime) else value


def _q(name: str) -> str:
    return f"{{{_NS}}}{name}"


def _sub(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, _q(name))


def _leaf(parent: etree._Element, name: str, value: str | int | None) -> None:
    if value is not None:
        _sub(parent, name).text = str(value)
