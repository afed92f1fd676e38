"""The records of `schemas/avro/` as frozen dataclasses, and their encoding.

A `SignedEnvelope` holds a body as bytes; `open_body` decodes those exact bytes only after
the signature over them has been checked (signing.envelope), never re-encoding them.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from kernel.errors import EnvelopeError
from kernel.reasons import ReasonCode
from schemas.codec import Registry

MessageKind = Literal["document", "status", "revoke", "update", "replace"]
Algorithm = Literal["UNKNOWN", "ECDSA_P256_SHA256", "RSA_PKCS1V15_SHA256", "RSA_PSS_SHA256"]
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class AttachmentRef:
    name: str
    media_type: str
    sha256: str
    size: int
    content: bytes | None = None
    reference: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TraceEntry:
    organ_id: str
    at: datetime.datetime
    action: str
    note: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EnvelopeBody:
    message_id: str
    kind: MessageKind
    sender: str
    recipients: tuple[str, ...]
    created_at: datetime.datetime
    edxml: bytes
    document_id: str | None = None
    priority: int = 0
    attachments: tuple[AttachmentRef, ...] = ()
    trace: tuple[TraceEntry, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class StatusBody:
    message_id: str
    responds_to: str
    sender: str
    recipient: str
    status_code: str
    created_at: datetime.datetime
    document_id: str | None = None
    reason_code: str | None = None
    description: str | None = None
    edxml: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Endorsement:
    """The router's signed word that it delivered this envelope to this unit."""

    message_id: str
    envelope_sha256: bytes
    delivered_to: str
    requested: str
    sender: str
    created_at: datetime.datetime
    redirected_from: tuple[str, ...] = ()
    paper_copy_required: bool = False
    received_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EndorsementBatch:
    """What the router signs once for a wave of endorsements: their Merkle tree's root."""

    root: bytes
    size: int
    sender: str
    created_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class EndorsementProof:
    """One endorsement of a wave, its inclusion proof, and the wave's signed root."""

    endorsement_schema: bytes
    endorsement: bytes
    index: int
    rule: tuple[int, ...]
    path: tuple[bytes, ...]
    batch: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    key: str
    value: bytes | None


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    dead_letter_id: str
    received_at: datetime.datetime
    topic: str
    partition: int
    offset: int
    original: bytes
    stage: str
    reason_code: str
    reason: str
    key: bytes | None = None
    headers: tuple[Header, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SignedEnvelope:
    body_schema: bytes
    body: bytes
    signature: bytes
    algorithm: Algorithm
    certificate_chain: tuple[bytes, ...]

    @property
    def signed_bytes(self) -> bytes:
        """What the signature covers: the body's schema fingerprint, then the body."""
        return self.body_schema + self.body


_STATUS_NAMESPACE = uuid.UUID("6f1c1d2e-3b4a-5c6d-8e9f-0a1b2c3d4e5f")
_NOTICE_NAMESPACE = uuid.UUID("0b7e5d1c-4a3f-5e2d-9c8b-7a6f5e4d3c2b")


def status_id(about: str, sender: str, code: str, *, to: str | None = None) -> str:
    """The only id a status from `sender` about message `about` may carry.

    The same every time it is sent, so a status re-sent after a crash or a replay is
    recorded once; and bound to its sender, so nobody can take the id of another unit's
    coming status (the router refuses a status whose id is not this). A recall request
    (13) goes to each recipient separately, so its id also names that recipient.
    """
    key = f"{about}|{sender}|{code}" + (f"|{to}" if to is not None else "")
    return str(uuid.uuid5(_STATUS_NAMESPACE, key))


def notice_id(about: str, about_recipient: str, code: str) -> str:
    """The id of the router's own notice: apart from every status a unit can send."""
    return str(uuid.uuid5(_NOTICE_NAMESPACE, f"{about}|{about_recipient}|{code}"))


def expected_status_id(status: StatusBody) -> str:
    return status_id(
        status.responds_to,
        status.sender,
        status.status_code,
        to=status.recipient if status.status_code == "13" else None,
    )


Body = EnvelopeBody | StatusBody
Record = (
    EnvelopeBody
    | StatusBody
    | Endorsement
    | EndorsementBatch
    | EndorsementProof
    | DeadLetter
    | SignedEnvelope
)
_NESTED: dict[str, type] = {
    "attachments": AttachmentRef,
    "trace": TraceEntry,
    "headers": Header,
}
_BODIES: dict[str, type[EnvelopeBody] | type[StatusBody]] = {
    "EnvelopeBody": EnvelopeBody,
    "StatusBody": StatusBody,
}


def to_record(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_record(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [to_record(item) for item in value]
    return value


def from_record(cls: type[Any], record: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        value = record.get(field.name)
        if isinstance(value, list):
            nested = _NESTED.get(field.name)
            value = tuple(from_record(nested, item) if nested else item for item in value)
        values[field.name] = value
    return cls(**values)


def encode(registry: Registry, value: Record) -> tuple[bytes, bytes]:
    """(writer fingerprint, payload) for any of the records above."""
    return registry.encode(type(value).__name__, to_record(value))


def decode_signed(registry: Registry, fingerprint: bytes, payload: bytes) -> SignedEnvelope:
    record = registry.decode(fingerprint, payload, "SignedEnvelope")
    envelope: SignedEnvelope = from_record(SignedEnvelope, record)
    return envelope


def open_endorsement(registry: Registry, envelope: SignedEnvelope) -> Endorsement:
    """Decode a signed endorsement's body; call only after verifying its signature."""
    return read_endorsement(registry, envelope.body_schema, envelope.body)


def read_endorsement(registry: Registry, fingerprint: bytes, payload: bytes) -> Endorsement:
    """Decode an endorsement's bytes; call only after verifying what covers them."""
    return _opened(registry, Endorsement, fingerprint, payload)


def open_batch(registry: Registry, envelope: SignedEnvelope) -> EndorsementBatch:
    """Decode a signed wave root; call only after verifying its signature."""
    return _opened(registry, EndorsementBatch, envelope.body_schema, envelope.body)


def decode_proof(registry: Registry, fingerprint: bytes, payload: bytes) -> EndorsementProof:
    return _opened(registry, EndorsementProof, fingerprint, payload)


def _opened(registry: Registry, cls: type[T], fingerprint: bytes, payload: bytes) -> T:
    """`payload` read as `cls`, refused when its writer schema is of another record."""
    name = registry.name_of(fingerprint)
    if name.rsplit(".", 1)[-1] != cls.__name__:
        raise EnvelopeError(ReasonCode.ENDORSEMENT_INVALID, f"a {name} is not a {cls.__name__}")
    opened: T = from_record(cls, registry.decode(fingerprint, payload, name))
    return opened


def open_body(registry: Registry, envelope: SignedEnvelope) -> Body:
    """Decode the signed body bytes exactly as they came; call only after verifying them."""
    name = registry.name_of(envelope.body_schema)
    cls = _BODIES.get(name.rsplit(".", 1)[-1])
    if cls is None:
        raise EnvelopeError(ReasonCode.ENVELOPE_MALFORMED, f"a {name} cannot be an envelope body")
    body: Body = from_record(cls, registry.decode(envelope.body_schema, envelope.body, name))
    return body
