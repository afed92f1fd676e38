"""The edXML packet as values: frozen dataclasses, tuples for repeated elements.

Fields follow the element names of QCVN 102:2016 (in snake case). Empty elements and the
literal `null` some vendors write are `None`. Dates are `datetime.date` and timestamps naive
`datetime.datetime` in Vietnam's local time, as the standard writes them; a date that no
known layout reads is kept as its raw text so nothing a sender wrote is lost.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

DateValue = datetime.date | str | None


class StatusCode(enum.StrEnum):
    """Status replies (QCVN 102:2016 as amended): what happened to a delivered document."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    IN_PROGRESS = "05"
    DONE = "06"
    RECALL_REQUESTED = "13"
    CHANGE_AGREED = "15"
    CHANGE_REFUSED = "16"


class BusinessDocType(enum.IntEnum):
    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Organization:
    organ_id: str | None = None
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    code_number: str | None = None
    code_notation: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PromulgationInfo:
    place: str | None = None
    promulgation_date: DateValue = None


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentType:
    type: int | None = None
    type_detail: int | None = None
    type_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SignerInfo:
    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class OtherInfo:
    priority: int | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseFor:
    organ_id: str | None = None
    code: str | None = None
    promulgation_date: DateValue = None
    document_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StaffInfo:
    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TraceHeader:
    organ_id: str | None = None
    timestamp: datetime.datetime | str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ReplacementInfo:
    document_id: str | None = None
    organ_ids: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Business:
    """`Bussiness` in the standard's spelling: what kind of sending this is (new, revoke, …)."""

    document_id: str | None = None
    business_doc_type: int | None = None
    business_doc_reason: str | None = None
    paper: int | None = None
    staff_info: StaffInfo | None = None
    replacement_info: tuple[ReplacementInfo, ...] = ()
    extensions: tuple[bytes, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestReference:
    content_id: str | None = None
    content_type: str | None = None
    description: str | None = None
    attachment_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment, decoded. `content` is None when the sender's text was not base64;
    `raw_content` then keeps that text verbatim so the packet can still be written back."""

    content_id: str | None = None
    attachment_name: str | None = None
    description: str | None = None
    content_type: str | None = None
    content: bytes | None = None
    raw_content: str | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    @property
    def size(self) -> int | None:
        return len(self.content) if self.content is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Common:
    from_: Organization = dataclasses.field(default_factory=Organization)
    response_for: tuple[ResponseFor, ...] = ()
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business | None = None
    # The XML-DSig element as exclusive C14N bytes: kept and re-emitted, never re-signed.
    signature: bytes | None = None
    manifest_version: str | None = None
    manifest: tuple[ManifestReference, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # Elements the standard does not name, as exclusive C14N bytes, so nothing is dropped.
    extensions: tuple[bytes, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentPacket(_Common):
    to: tuple[Organization, ...] = ()
    document_id: str | None = None
    code: Code | None = None
    promulgation_info: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    subject: str | None = None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: DateValue = None
    other_info: OtherInfo | None = None
    steering_type: int | None = None
    to_places: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "document"


@dataclasses.dataclass(frozen=True, slots=True)
class StatusPacket(_Common):
    staff_info: StaffInfo | None = None
    status_code: StatusCode = StatusCode.ARRIVED
    description: str | None = None
    timestamp: datetime.datetime | str | None = None

    @property
    def kind(self) -> str:
        return "status"

    @property
    def document_id(self) -> str | None:
        """The document this status answers for."""
        return next((r.document_id for r in self.response_for if r.document_id), None)


Packet = DocumentPacket | StatusPacket
