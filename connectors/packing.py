"""Outgoing documents become envelope bodies: what the sending connector signs.

The edXML travels as the exact bytes the agency's system produced; extra files travel as
attachments with their SHA-256 and size, so the receiver can check them.
"""

from __future__ import annotations

import datetime
import hashlib
import mimetypes
import uuid
from collections.abc import Sequence
from pathlib import Path

from broker.directory.model import check_organ_id
from schemas import edxml
from schemas.edxml.model import BusinessDocType
from schemas.envelope import AttachmentRef, EnvelopeBody, MessageKind, TraceEntry

_KIND_BY_BUSINESS: dict[int, MessageKind] = {
    BusinessDocType.NEW: "document",
    BusinessDocType.REVOKE: "revoke",
    BusinessDocType.UPDATE: "update",
    BusinessDocType.REPLACE: "replace",
}


def attachment(path: Path) -> AttachmentRef:
    content = path.read_bytes()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return AttachmentRef(
        name=path.name,
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
    """Read the packet (refusing a bad one early, at the sender) and describe it."""
    packet = edxml.parse(edxml_bytes)
    created_at = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    kind: MessageKind = "status"
    priority = 0
    if isinstance(packet, edxml.DocumentPacket):
        business = packet.business.business_doc_type if packet.business else None
        kind = _KIND_BY_BUSINESS.get(business or 0, "document")
        priority = (packet.other_info.priority if packet.other_info else None) or 0
    return EnvelopeBody(
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
