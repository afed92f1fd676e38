"""Reads edXML packets: liberal in what real vendors send, hard against hostile XML.

Liberal: elements are matched by local name whatever their namespace (vendors put
`Signature` and `AttachmentEncoded` in different ones), in any order; `Bussiness` and
`Business` both work; dates come as yyyy/MM/dd or dd/MM/yyyy; empty and literal `null`
OrganIds are absent; an undeclared namespace prefix (`xlink:href` without its declaration,
seen in a national-axis SDK sample) is declared for the reader instead of failing.

Hard: no DTD is accepted at all (so no XXE and no entity expansion), nothing is fetched, and
input size, nesting depth and decoded attachment size are capped. Each refusal is an
`EdxmlError` with its own reason code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from lxml import etree

from kernel.errors import EdxmlError
from kernel.reasons import ReasonCode
from schemas.edxml import model as m

T = TypeVar("T")

_KNOWN_PREFIXES = {
    "xlink": "http://www.w3.org/1999/xlink",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
_UNDEFINED_PREFIX = re.compile(r"Namespace prefix (\S+) (?:for \S+ )?on \S+ is not defined")
_ROOT_START = re.compile(rb"<(?![?!])[^\s/>]+")
_EXTERNAL = re.compile(rb"\b(?:SYSTEM|PUBLIC)\b")
_DATE_LAYOUTS = ("%Y/%m/%d", "%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y")
_TIMESTAMP_LAYOUTS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
)
_BASE64_CHUNK = 4 * 256 * 1024
_MAX_LEADING_JUNK = 32


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 64 * 1024 * 1024
    max_attachment_bytes: int = 48 * 1024 * 1024
    max_depth: int = 32


def parse(source: bytes | Path, limits: Limits = Limits()) -> m.Packet:
    data = _read(source, limits)
    root = _parse_xml(data)
    _check_depth(root, limits.max_depth)
    if _local(root) != "edXML":
        raise EdxmlError(ReasonCode.EDXML_NOT_EDXML, f"the root element is <{_local(root)}>")
    header = _find(root, "edXMLEnvelope", "edXMLHeader")
    message = _child(header, "MessageHeader") if header is not None else None
    if header is None or message is None:
        raise EdxmlError(
            ReasonCode.EDXML_NOT_EDXML, "no edXMLEnvelope/edXMLHeader/MessageHeader element"
        )
    trace_list = _child(header, "TraceHeaderList")
    signature = _child(header, "Signature")
    manifest = _find(root, "edXMLEnvelope", "edXMLBody", "edXMLManifest")
    common = {
        "from_": _organization(_child(message, "From")),
        "response_for": tuple(_response_for(e) for e in _children(message, "ResponseFor")),
        "trace_headers": tuple(_trace_header(e) for e in _children(trace_list, "TraceHeader")),
        "business": _business(_child(trace_list, "Bussiness", "Business")),
        "signature": _c14n(signature) if signature is not None else None,
        "manifest_version": manifest.get("version") if manifest is not None else None,
        "manifest": tuple(_manifest_reference(e) for e in _children(manifest, "Reference")),
        "attachments": tuple(
            _attachment(e, limits)
            for encoded in _descendants(root, "AttachmentEncoded")
            for e in _children(encoded, "Attachment")
        ),
    }
    if _child(message, "StatusCode") is not None:
        return m.StatusPacket(
            **common,  # type: ignore[arg-type]
            extensions=_extensions(message, _STATUS_FIELDS),
            staff_info=_staff_info(_child(message, "StaffInfo")),
            status_code=_status_code(_text(_child(message, "StatusCode"))),
            description=_text(_child(message, "Description")),
            timestamp=_timestamp(_text(_child(message, "Timestamp"))),
        )
    return m.DocumentPacket(
        **common,  # type: ignore[arg-type]
        extensions=_extensions(message, _DOCUMENT_FIELDS),
        to=tuple(_organization(e) for e in _children(message, "To")),
        document_id=_text(_child(message, "DocumentId")),
        code=_optional(_child(message, "Code"), _code),
        promulgation_info=_optional(_child(message, "PromulgationInfo"), _promulgation_info),
        document_type=_optional(_child(message, "DocumentType"), _document_type),
        subject=_text(_child(message, "Subject")),
        content=_text(_child(message, "Content")),
        signer_info=_optional(_child(message, "SignerInfo"), _signer_info),
        due_date=_date(_text(_child(message, "DueDate"))),
        other_info=_optional(_child(message, "OtherInfo"), _other_info),
        steering_type=_int(_child(message, "SteeringType")),
        to_places=_texts(_child(message, "ToPlaces"), "Place"),
    )


_COMMON_FIELDS = {"From", "ResponseFor"}
_DOCUMENT_FIELDS = _COMMON_FIELDS | {
    "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject", "Content",
    "SignerInfo", "DueDate", "OtherInfo", "SteeringType", "ToPlaces",
}  # fmt: skip
_STATUS_FIELDS = _COMMON_FIELDS | {"StaffInfo", "StatusCode", "Description", "Timestamp"}
_BUSINESS_FIELDS = {
    "DocumentId", "BussinessDocType", "BussinessDocReason", "Paper", "StaffInfo",
    "ReplacementInfoList",
}  # fmt: skip


def _read(source: bytes | Path, limits: Limits) -> bytes:
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > limits.max_bytes:
        raise EdxmlError(
            ReasonCode.EDXML_TOO_LARGE,
            f"the packet is {size} bytes; the limit is {limits.max_bytes}",
        )
    data = source.read_bytes() if isinstance(source, Path) else source
    # A national-axis SDK sample starts with its length in digits before `<?xml`.
    start = data.find(b"<", 0, _MAX_LEADING_JUNK)
    return data[start:] if start > 0 and data[:start].strip().isdigit() else data


def _parser() -> etree.XMLParser:
    # huge_tree lifts libxml2's 10 MB text-node cap (attachments are larger); the input
    # size limit above is what bounds memory instead.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )


def _refuse_doctype(data: bytes) -> None:
    """Refuse a DTD before libxml2 sees it: edXML never has one, so none is parsed at all."""
    root = _ROOT_START.search(data)
    prolog = data[: root.start()] if root else data
    doctype = prolog.find(b"<!DOCTYPE")
    if doctype < 0:
        return
    declaration = prolog[doctype:]
    if _EXTERNAL.search(declaration):
        raise EdxmlError(
            ReasonCode.EDXML_EXTERNAL_ENTITY, "the packet refers to an external DTD or entity"
        )
    if b"<!ENTITY" in declaration:
        raise EdxmlError(
            ReasonCode.EDXML_ENTITY_EXPANSION, "the packet declares entities; edXML declares none"
        )
    raise EdxmlError(ReasonCode.EDXML_DTD_FORBIDDEN, "the packet carries a DOCTYPE")


def _parse_xml(data: bytes) -> etree._Element:
    _refuse_doctype(data)
    declared: set[str] = set()
    while True:
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            match = _UNDEFINED_PREFIX.search(str(exc.msg))
            if match and match[1] not in declared and len(declared) < 8:
                declared.add(match[1])
                data = _declare_prefix(data, match[1])
                continue
            raise EdxmlError(
                ReasonCode.EDXML_MALFORMED, f"not well-formed XML: {exc.msg}"
            ) from None
        break
    # A second line for what the byte scan cannot see (a UTF-16 document, say).
    _refuse_dtd(root.getroottree().docinfo)
    return root


def _declare_prefix(data: bytes, prefix: str) -> bytes:
    uri = _KNOWN_PREFIXES.get(prefix, f"urn:lienthong:undeclared:{prefix}")
    match = _ROOT_START.search(data)
    if match is None:
        return data
    declaration = f' xmlns:{prefix}="{uri}"'.encode()
    return data[: match.end()] + declaration + data[match.end() :]


def _refuse_dtd(docinfo: etree.DocInfo) -> None:
    dtd = docinfo.internalDTD
    entities = list(dtd.iterentities()) if dtd is not None else []
    if docinfo.system_url or any(e.system_url for e in entities):
        raise EdxmlError(
            ReasonCode.EDXML_EXTERNAL_ENTITY, "the packet refers to an external DTD or entity"
        )
    if entities:
        raise EdxmlError(
            ReasonCode.EDXML_ENTITY_EXPANSION,
            f"the packet declares {len(entities)} entities; edXML declares none",
        )
    if docinfo.doctype or dtd is not None:
        raise EdxmlError(ReasonCode.EDXML_DTD_FORBIDDEN, "the packet carries a DOCTYPE")


def _check_depth(root: etree._Element, max_depth: int) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise EdxmlError(
                ReasonCode.EDXML_TOO_DEEP, f"elements nest deeper than {max_depth} levels"
            )
        stack.extend((child, depth + 1) for child in element)


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(parent: etree._Element | None, *names: str) -> Iterator[etree._Element]:
    if parent is None:
        return iter(())
    # lxml filters by local name in C ("{*}" is any namespace or none): a parse asks for
    # some fifty children, and a Python loop over each parent's children was half its time.
    return parent.iterchildren(*(f"{{*}}{name}" for name in names))


def _child(parent: etree._Element | None, *names: str) -> etree._Element | None:
    """The one element of that name: a second `<From>` or `<DocumentId>` would let a reader
    that takes the last one see another author or document than the one checked."""
    found = list(_children(parent, *names))
    if parent is not None and len(found) > 1:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE,
            f"<{_local(found[0])}> appears {len(found)} times in <{_local(parent)}>; "
            "QCVN 102:2016 allows one",
        )
    return found[0] if found else None


def _find(parent: etree._Element, *path: str) -> etree._Element | None:
    current: etree._Element | None = parent
    for name in path:
        current = _child(current, name)
    return current


def _descendants(parent: etree._Element, name: str) -> Iterator[etree._Element]:
    return parent.iter(f"{{*}}{name}")


def _c14n(element: etree._Element) -> bytes:
    """A foreign element as exclusive C14N, as it reads once placed back into an edXML header.

    Placing it under an element that declares the `edXML` prefix first makes the bytes the
    same whether the element came from a vendor's packet or from our writer, which
    re-uses that prefix for the edXML namespace.
    """
    holder = etree.Element(f"{{{m.NAMESPACE}}}holder", nsmap={"edXML": m.NAMESPACE})
    try:
        canonical = etree.tostring(element, method="c14n", exclusive=True)
        holder.append(etree.fromstring(canonical, _parser()))
        return etree.tostring(holder[0], method="c14n", exclusive=True)
    except etree.LxmlError as exc:  # what the first parse let through, the second refused
        raise EdxmlError(
            ReasonCode.EDXML_MALFORMED, f"<{_local(element)}> cannot be canonicalised: {exc}"
        ) from None


def _extensions(parent: etree._Element, known: set[str]) -> tuple[bytes, ...]:
    return tuple(_c14n(child) for child in parent if _local(child) not in known | {""})


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _organ_id(element: etree._Element | None) -> str | None:
    text = _text(element)
    return None if text is None or text.lower() == "null" else text


def _texts(parent: etree._Element | None, name: str) -> tuple[str, ...]:
    return tuple(t for t in (_text(e) for e in _children(parent, name)) if t is not None)


def _optional(element: etree._Element | None, build: Callable[[etree._Element], T]) -> T | None:
    return build(element) if element is not None else None


def _int(element: etree._Element | None) -> int | None:
    text = _text(element)
    if text is None or element is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE, f"<{_local(element)}> must be a number, not {text!r}"
        ) from None


def _bool(element: etree._Element | None) -> bool | None:
    text = _text(element)
    if text is None or element is None:
        return None
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise EdxmlError(
        ReasonCode.EDXML_INVALID_VALUE, f"<{_local(element)}> must be true or false, not {text!r}"
    )


def _date(text: str | None) -> m.DateValue:
    if text is None:
        return None
    for layout in _DATE_LAYOUTS:
        try:
            return datetime.datetime.strptime(text, layout).date()
        except ValueError:
            continue
    return text


def _timestamp(text: str | None) -> datetime.datetime | str | None:
    if text is None:
        return None
    for layout in _TIMESTAMP_LAYOUTS:
        try:
            return datetime.datetime.strptime(text, layout)
        except ValueError:
            continue
    return text


def _status_code(text: str | None) -> m.StatusCode:
    try:
        return m.StatusCode((text or "").zfill(2))
    except ValueError:
        raise EdxmlError(
            ReasonCode.EDXML_INVALID_VALUE,
            f"<StatusCode> {text!r} is not one of {', '.join(c.value for c in m.StatusCode)}",
        ) from None


def _organization(element: etree._Element | None) -> m.Organization:
    return m.Organization(
        organ_id=_organ_id(_child(element, "OrganId")),
        organization_in_charge=_text(_child(element, "OrganizationInCharge")),
        organ_name=_text(_child(element, "OrganName")),
        organ_add=_text(_child(element, "OrganAdd")),
        email=_text(_child(element, "Email")),
        telephone=_text(_child(element, "Telephone")),
        fax=_text(_child(element, "Fax")),
        website=_text(_child(element, "Website")),
    )


def _code(element: etree._Element) -> m.Code:
    return m.Code(
        code_number=_text(_child(element, "CodeNumber")),
        code_notation=_text(_child(element, "CodeNotation")),
    )


def _promulgation_info(element: etree._Element) -> m.PromulgationInfo:
    return m.PromulgationInfo(
        place=_text(_child(element, "Place")),
        promulgation_date=_date(_text(_child(element, "PromulgationDate"))),
    )


def _document_type(element: etree._Element) -> m.DocumentType:
    return m.DocumentType(
        type=_int(_child(element, "Type")),
        type_detail=_int(_child(element, "TypeDetail")),
        type_name=_text(_child(element, "TypeName")),
    )


def _signer_info(element: etree._Element) -> m.SignerInfo:
    return m.SignerInfo(
        competence=_text(_child(element, "Competence")),
        position=_text(_child(element, "Position")),
        full_name=_text(_child(element, "FullName")),
    )


def _other_info(element: etree._Element) -> m.OtherInfo:
    return m.OtherInfo(
        priority=_int(_child(element, "Priority")),
        sphere_of_promulgation=_text(_child(element, "SphereOfPromulgation")),
        typer_notation=_text(_child(element, "TyperNotation")),
        promulgation_amount=_int(_child(element, "PromulgationAmount")),
        page_amount=_int(_child(element, "PageAmount")),
        direction=_bool(_child(element, "Direction")),
        appendixes=_texts(_child(element, "Appendixes"), "Appendix"),
    )


def _response_for(element: etree._Element) -> m.ResponseFor:
    return m.ResponseFor(
        organ_id=_organ_id(_child(element, "OrganId")),
        code=_text(_child(element, "Code")),
        promulgation_date=_date(_text(_child(element, "PromulgationDate"))),
        document_id=_text(_child(element, "DocumentId")),
    )


def _staff_info(element: etree._Element | None) -> m.StaffInfo | None:
    if element is None:
        return None
    return m.StaffInfo(
        department=_text(_child(element, "Department")),
        staff=_text(_child(element, "Staff")),
        email=_text(_child(element, "Email")),
        mobile=_text(_child(element, "Mobile")),
    )


def _trace_header(element: etree._Element) -> m.TraceHeader:
    return m.TraceHeader(
        organ_id=_organ_id(_child(element, "OrganId")),
        timestamp=_timestamp(_text(_child(element, "Timestamp"))),
    )


def _business(element: etree._Element | None) -> m.Business | None:
    if element is None:
        return None
    return m.Business(
        document_id=_text(_child(element, "DocumentId")),
        business_doc_type=_int(_child(element, "BussinessDocType", "BusinessDocType")),
        business_doc_reason=_text(_child(element, "BussinessDocReason", "BusinessDocReason")),
        paper=_int(_child(element, "Paper")),
        staff_info=_staff_info(_child(element, "StaffInfo")),
        replacement_info=tuple(
            m.ReplacementInfo(
                document_id=_text(_child(info, "DocumentId")),
                organ_ids=tuple(
                    organ_id
                    for organ_id in (
                        _organ_id(e) for e in _children(_child(info, "OrganIdList"), "OrganId")
                    )
                    if organ_id is not None
                ),
            )
            for info in _children(_child(element, "ReplacementInfoList"), "ReplacementInfo")
        ),
        extensions=_extensions(
            element, _BUSINESS_FIELDS | {"BusinessDocType", "BusinessDocReason"}
        ),
    )


def _manifest_reference(element: etree._Element) -> m.ManifestReference:
    return m.ManifestReference(
        content_id=_text(_child(element, "ContentId")),
        content_type=_text(_child(element, "ContentType")),
        description=_text(_child(element, "Description")),
        attachment_name=_text(_child(element, "AttachmentName")),
    )


def _attachment(element: etree._Element, limits: Limits) -> m.Attachment:
    encoded = _child(element, "ContentTransferEncoded")
    raw = "".join(encoded.itertext()) if encoded is not None else ""
    content, kept_raw = decode_base64(raw, limits.max_attachment_bytes)
    return m.Attachment(
        content_id=_text(_child(element, "ContentId")),
        attachment_name=_text(_child(element, "AttachmentName")),
        description=_text(_child(element, "Description")),
        content_type=_text(_child(element, "ContentType")),
        content=content,
        raw_content=kept_raw,
    )


def decode_base64(text: str, max_bytes: int) -> tuple[bytes | None, str | None]:
    """(content, None) for valid base64; (None, the text) when it is not base64 at all.

    The decoded size is checked before decoding, and decoding goes in chunks so a bad
    character is found without building a second copy of a large attachment first.
    """
    compact = "".join(text.split())
    if len(compact) // 4 * 3 > max_bytes:
        raise EdxmlError(
            ReasonCode.ATTACHMENT_TOO_LARGE,
            f"an attachment decodes to about {len(compact) // 4 * 3} bytes; "
            f"the limit is {max_bytes}",
        )
    if len(compact) % 4:
        return None, text.strip()
    parts: list[bytes] = []
    try:
        for start in range(0, len(compact), _BASE64_CHUNK):
            parts.append(base64.b64decode(compact[start : start + _BASE64_CHUNK], validate=True))
    except (binascii.Error, ValueError):
        return None, text.strip()
    return b"".join(parts), None
