"""The registers of Decree 30/2020 and the outbox, in PostgreSQL.

Numbers come from a counter row per unit, year and register, bumped with
`INSERT … ON CONFLICT DO UPDATE … RETURNING` inside the transaction that writes the entry:
the row stays locked until commit, so numbers are consecutive under concurrency, and a
rolled-back entry gives its number back. Years are calendar years in Vietnam's time zone.

Each entry also keeps the columns of Decree 30's register forms, read from the edXML header
(`Columns`); a sender writes them, so they are bounded texts, never trusted further.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from connectors import packing
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import binding, codec, edxml, statuses
from schemas.envelope import EnvelopeBody, StatusBody
from signing.identity import Identity

VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes
    headers: codec.Headers


def year_of(moment: datetime.datetime) -> int:
    return moment.astimezone(VIETNAM).year


LIMITS = {"code_number": 32, "code_notation": 128, "document_type": 128, "signer": 128,
          "author": 256}  # fmt: skip
"""The most characters a register keeps of each text column (migration 0022 bounds alike)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Columns:
    """What Decree 30's register forms show of a document, as its edXML header says it."""

    code_number: str | None = None
    code_notation: str | None = None
    promulgated_on: datetime.date | None = None
    document_type: str | None = None
    signer: str | None = None
    due_date: datetime.date | None = None
    author: str | None = None

    @classmethod
    def of(cls, packet: edxml.Packet | None) -> Columns:
        if not isinstance(packet, edxml.DocumentPacket):
            return cls(author=_bounded(packet.from_.organ_name, "author") if packet else None)
        code = packet.code
        info = packet.promulgation_info
        return cls(
            code_number=_bounded(code.code_number if code else None, "code_number"),
            code_notation=_bounded(code.code_notation if code else None, "code_notation"),
            promulgated_on=_date(info.promulgation_date if info else None),
            document_type=_bounded(
                packet.document_type.type_name if packet.document_type else None, "document_type"
            ),
            signer=_bounded(packet.signer_info.full_name if packet.signer_info else None, "signer"),
            due_date=_date(packet.due_date),
            author=_bounded(packet.from_.organ_name, "author"),
        )

    def values(self) -> tuple[Any, ...]:
        """In the order the registers' INSERTs name them."""
        return dataclasses.astuple(self)


def _bounded(value: str | None, column: str) -> str | None:
    if value is None:
        return None
    text = value.replace("\x00", "").strip()[: LIMITS[column]].strip()
    return text or None


def _date(value: edxml.model.DateValue) -> datetime.date | None:
    """A date the parser read; the raw text of one it could not read is no date."""
    if isinstance(value, datetime.datetime):
        return value.date()
    return value if isinstance(value, datetime.date) else None


async def _next_number(conn: Connection, unit: str, year: int, register: str) -> tuple[int, int]:
    """The (year, number) an entry takes, inside the transaction that writes it.

    `year` is the year of a time taken before this transaction began (a document's
    creation, a receipt), so a registration can reach here for a year its register has
    already left: another entry of the new year may be committed and listed by now, and a
    poller past it (connectors.listing) would never see this one. So once a later year has
    a counter, the entry goes into that year instead. The check runs after this year's
    counter row is locked: a later year's entry committed before the lock is seen here; one
    committed after it makes a poller wait for this transaction (listing.page)."""
    number = await _bump(conn, unit, year, register)
    later: int | None = await conn.fetchval(
        "SELECT max(year) FROM register_counters WHERE unit = $1 AND register = $2 AND year > $3",
        unit,
        register,
        year,
    )
    if later is None:
        return year, number
    # The row stays locked by this transaction: nobody took a number after this one.
    await conn.execute(
        "UPDATE register_counters SET last = last - 1"
        " WHERE unit = $1 AND year = $2 AND register = $3",
        unit,
        year,
        register,
    )
    return later, await _bump(conn, unit, later, register)


async def _bump(conn: Connection, unit: str, year: int, register: str) -> int:
    number: int = await conn.fetchval(
        "INSERT INTO register_counters (unit, year, register, last) VALUES ($1, $2, $3, 1)"
        " ON CONFLICT (unit, year, register)"
        " DO UPDATE SET last = register_counters.last + 1 RETURNING last",
        unit,
        year,
        register,
    )
    return number


async def _queue(conn: Connection, message_id: str, unit: str, outgoing: Outgoing) -> None:
    await conn.execute(
        "INSERT INTO outbox (message_id, unit, topic, key, value, headers)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (unit, message_id) DO NOTHING",
        message_id,
        unit,
        outgoing.topic,
        outgoing.key,
        outgoing.value,
        json.dumps([[k, v.hex()] for k, v in outgoing.headers]),
    )


async def register_numbered(
    conn: Connection,
    body: EnvelopeBody,
    subject: str | None,
    seal: Callable[[EnvelopeBody], Outgoing],
) -> tuple[EnvelopeBody, int]:
    """Number the document, write that number into it when the register issues it (the rule
    is `packing.numbered`'s), then seal, enter and queue it in one transaction: a refusal
    while sealing (an envelope grown too large) gives the number back.

    Returns the body as sent, which differs from `body` when the register numbered it;
    a document with a number of its own keeps it.
    """
    async with conn.transaction():
        year, number = await _next_number(conn, body.sender, year_of(body.created_at), "out")
        issued_on = body.created_at.astimezone(VIETNAM).date()
        body = packing.numbered(body, number, issued_on) or body
        outgoing = seal(body)
        await _enter_outgoing(conn, body, subject, year, number)
        await _queue(conn, body.message_id, body.sender, outgoing)
    return body, number


def sealer(
    identity: Identity, registry: codec.Registry, lane: str, *, limit: int, threshold: int
) -> Callable[[EnvelopeBody], Outgoing]:
    """How `register_numbered` seals a body for `lane`: signed by the unit, refused when the
    envelope exceeds what the exchange carries (`limit` bytes)."""

    def seal(body: EnvelopeBody) -> Outgoing:
        headers, value = identity.seal(registry, body)
        if len(value) > limit:
            raise Rejected(
                ReasonCode.ENVELOPE_TOO_LARGE,
                f"the envelope is {len(value)} bytes; the exchange carries at most {limit};"
                f" attachments over {threshold} bytes travel by reference",
            )
        return Outgoing(lane, body.sender.encode(), value, headers)

    return seal


async def _enter_outgoing(
    conn: Connection,
    body: EnvelopeBody,
    subject: str | None,
    year: int,
    number: int,
) -> None:
    columns = Columns.of(edxml.parse(body.edxml))
    await conn.execute(
        "INSERT INTO outgoing_register (unit, year, number, message_id, document_id, kind,"
        " subject, recipients, created_at, code_number, code_notation, promulgated_on,"
        " document_type, signer, due_date, author)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        body.sender,
        year,
        number,
        body.message_id,
        body.document_id,
        body.kind,
        subject,
        list(body.recipients),
        body.created_at,
        *columns.values(),
    )


async def register_incoming(
    conn: Connection,
    unit: str,
    body: EnvelopeBody,
    *,
    subject: str | None,
    redirected_from: str | None,
    receipt: tuple[str, Outgoing],
    received_at: datetime.datetime,
    paper_copy_required: bool = False,
    packet: edxml.Packet | None = None,
) -> tuple[int, bool]:
    """Enter the document once with the next số đến; queue the 01 receipt in the same step.
    A revoke also marks the entries of the document it revokes (`_revoke`).

    Returns (number, True) the first time, (the same number, False) for a repeat.
    """
    receipt_id, receipt_out = receipt
    packet = packet or edxml.parse(body.edxml)
    columns = Columns.of(packet)
    for _attempt in range(3):
        try:
            async with conn.transaction():
                existing = await conn.fetchval(
                    "SELECT number FROM incoming_register WHERE unit = $1 AND message_id = $2",
                    unit,
                    body.message_id,
                )
                if existing is not None:
                    await _queue(conn, receipt_id, unit, receipt_out)
                    return int(existing), False
                year, number = await _next_number(conn, unit, year_of(received_at), "in")
                await conn.execute(
                    "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
                    " document_id, subject, received_at, sent_at, redirected_from, edxml,"
                    " paper_copy_required, code_number, code_notation, promulgated_on,"
                    " document_type, signer, due_date, author) VALUES ($1, $2, $3, $4, $5, $6,"
                    " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                    unit,
                    year,
                    number,
                    body.message_id,
                    body.kind,
                    body.sender,
                    body.document_id,
                    subject,
                    received_at,
                    body.created_at,
                    redirected_from,
                    body.edxml,
                    paper_copy_required,
                    *columns.values(),
                )
                await conn.executemany(
                    "INSERT INTO incoming_attachments (unit, message_id, position, name,"
                    " media_type, sha256, size, content, reference)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    [
                        (unit, body.message_id, position, a.name, a.media_type, a.sha256,
                         a.size, a.content, a.reference)
                        for position, a in enumerate(body.attachments)
                    ],
                )  # fmt: skip
                if body.kind == "revoke":
                    await _revoke(conn, unit, body, packet)
                await _queue(conn, receipt_id, unit, receipt_out)
                return number, True
        except asyncpg.UniqueViolationError:
            continue  # another process registered it first: read its number
    raise RuntimeError(f"could not register {body.message_id} for {unit}")


async def _revoke(
    conn: Connection, unit: str, body: EnvelopeBody, packet: edxml.Packet | None
) -> None:
    """Mark revoked, as of when the sender revoked it, what `unit` registered of the document
    a revoke names (the document and any update or replacement of it from the same sender).

    The entry's status stays the unit's own answer (01 … 06: `schemas/statuses.py` moves it
    only by a status the receiver sends); a revoke is the sender's act, kept beside it as a
    recall request is. A revoke that names no document, or one not registered here (it may
    have gone to another unit), marks nothing: it stays an entry of its own.
    """
    document_id = binding.referenced(packet) if packet is not None else body.document_id
    if document_id is None:
        return
    await conn.execute(
        "UPDATE incoming_register SET revoked_at = coalesce(revoked_at, $4)"
        " WHERE unit = $1 AND sender = $2 AND document_id = $3 AND kind <> 'revoke'",
        unit,
        body.sender,
        document_id,
        body.created_at,
    )


def _storable(value: str) -> bool:
    """PostgreSQL text holds no NUL: an id with one was never stored, so nothing is found."""
    return "\x00" not in value


async def lane_of(conn: Connection, unit: str, message_id: str) -> str | None:
    """The submit topic `unit` published `message_id` on."""
    if not _storable(message_id):
        return None
    topic: str | None = await conn.fetchval(
        "SELECT topic FROM outbox WHERE unit = $1 AND message_id = $2", unit, message_id
    )
    return topic


async def published(conn: Connection, unit: str, message_id: str) -> bool:
    """Whether `unit` published `message_id` (a document or a status: it is in its outbox)."""
    if not _storable(message_id):
        return False
    found = await conn.fetchval(
        "SELECT 1 FROM outbox WHERE unit = $1 AND message_id = $2", unit, message_id
    )
    return found is not None


async def recall_requested(
    conn: Connection, unit: str, message_id: str, at: datetime.datetime
) -> None:
    await conn.execute(
        "UPDATE incoming_register SET recall_requested_at = coalesce(recall_requested_at, $3)"
        " WHERE unit = $1 AND message_id = $2",
        unit,
        message_id,
        at,
    )


async def record_status(conn: Connection, unit: str, status: StatusBody) -> bool:
    """What `unit`, a sender, hears back; True the first time this answer arrives."""
    result = await conn.execute(
        "INSERT INTO outgoing_status (unit, message_id, recipient, status_code, reason_code,"
        " description, at, status_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (unit, message_id, recipient, status_code) DO NOTHING",
        unit,
        status.responds_to,
        status.sender,
        status.status_code,
        status.reason_code,
        status.description,
        status.created_at,
        status.message_id,
    )
    return bool(result.endswith(" 1"))


async def queue_status(
    conn: Connection, unit: str, status: StatusBody, outgoing: Outgoing, *, moves: bool
) -> None:
    """Queue a receiver's status; the register entry's state changes only when it `moves`
    forward (schemas/statuses.py decided)."""
    async with conn.transaction():
        if moves:
            await conn.execute(
                "UPDATE incoming_register SET status = $3 WHERE unit = $1 AND message_id = $2",
                unit,
                status.responds_to,
                status.status_code,
            )
        await _queue(conn, status.message_id, unit, outgoing)


_ENTRY = "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2"
_LOCKED_ENTRY = _ENTRY + " FOR UPDATE"


async def incoming_entry(
    conn: Connection, unit: str, message_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    """A register entry with its attachments, or None; `lock` holds the row until the
    transaction ends (a status decided on its state must not race another)."""
    if not _storable(message_id):
        return None
    query = _LOCKED_ENTRY if lock else _ENTRY
    row = await conn.fetchrow(query, unit, message_id)
    if row is None:
        return None
    files = await conn.fetch(
        "SELECT name, media_type, sha256, size, content, reference FROM incoming_attachments"
        " WHERE unit = $1 AND message_id = $2 ORDER BY position",
        unit,
        message_id,
    )
    return {**dict(row), "attachments": [dict(f) for f in files]}


async def pending(conn: Connection, units: list[str], limit: int = 100) -> list[dict[str, Any]]:
    """What these units queued and have not sent yet, oldest first."""
    rows = await conn.fetch(
        "SELECT message_id, unit, topic, key, value, headers FROM outbox"
        " WHERE sent_at IS NULL AND unit = ANY($1::text[]) ORDER BY created_at LIMIT $2",
        units,
        limit,
    )
    return [dict(row) for row in rows]


async def quarantine(
    conn: Connection,
    unit: str,
    record: ConsumerRecord,
    *,
    message_id: str | None,
    reason: ReasonCode,
    detail: str,
) -> bool:
    """Keep a record the unit refused to register, whole, for the operator; True if new."""
    inserted = await conn.fetchval(
        'INSERT INTO incoming_quarantine (unit, topic, partition, "offset", message_id,'
        " reason_code, reason, key, value, headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
        ' ON CONFLICT (unit, topic, partition, "offset") DO NOTHING RETURNING id',
        unit,
        record.topic,
        record.partition,
        record.offset,
        message_id.replace("\x00", "\ufffd") if message_id is not None else None,
        reason.value,
        detail.replace("\x00", "\ufffd"),
        record.key,
        record.value or b"",
        json.dumps(
            [
                [k.replace("\x00", "\ufffd"), v.hex() if v is not None else None]
                for k, v in record.headers or ()
            ]
        ),
    )
    return inserted is not None


async def quarantined(conn: Connection, unit: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        'SELECT id, topic, partition, "offset", message_id, reason_code, reason, received_at'
        " FROM incoming_quarantine WHERE unit = $1 ORDER BY id DESC LIMIT $2",
        unit,
        limit,
    )
    return [dict(row) for row in rows]


async def mark_sent(conn: Connection, sent: list[tuple[str, str]]) -> None:
    """Mark (unit, message id) pairs sent."""
    await conn.execute(
        "UPDATE outbox SET sent_at = now() FROM unnest($1::text[], $2::text[]) AS s(unit, id)"
        " WHERE outbox.unit = s.unit AND outbox.message_id = s.id",
        [unit for unit, _ in sent],
        [message_id for _, message_id in sent],
    )


def headers_of(stored: str) -> codec.Headers:
    return [(key, bytes.fromhex(value)) for key, value in json.loads(stored)]


async def incoming_list(conn: Connection, unit: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT year, number, message_id, kind, sender, document_id, subject, received_at,"
        " sent_at, status, redirected_from, paper_copy_required FROM incoming_register"
        " WHERE unit = $1"
        " ORDER BY year, number",
        unit,
    )
    return [dict(row) for row in rows]


async def outgoing_entry(conn: Connection, unit: str, message_id: str) -> dict[str, Any] | None:
    """A sent document and what each recipient (and the router) answered, or None."""
    if not _storable(message_id):
        return None
    sent = await conn.fetchrow(
        "SELECT year, number, message_id, kind, document_id, subject, recipients, created_at"
        " FROM outgoing_register WHERE unit = $1 AND message_id = $2",
        unit,
        message_id,
    )
    if sent is None:
        return None
    answers = await conn.fetch(
        "SELECT recipient, status_code, reason_code, description, at FROM outgoing_status"
        " WHERE unit = $1 AND message_id = $2 ORDER BY at",
        unit,
        message_id,
    )
    codes: dict[str, list[str]] = {r: [] for r in sent["recipients"]}
    for answer in answers:
        codes.setdefault(answer["recipient"], []).append(answer["status_code"])
    return {
        **dict(sent),
        "statuses": [dict(a) for a in answers],
        # Per recipient, and per successor a merged one was redirected to (which answers
        # with its own 01); the router's own notices are listed, not states.
        "states": {
            r: statuses.state_of(c)
            for r, c in codes.items()
            if r in sent["recipients"] or "01" in c
        },
    }


async def record_upload(conn: Connection, unit: str, sha256: str, size: int) -> None:
    """`unit` put this content in the claim-check store: it may send it by reference."""
    await conn.execute(
        "INSERT INTO claim_uploads (unit, sha256, size) VALUES ($1, $2, $3)"
        " ON CONFLICT (unit, sha256) DO UPDATE SET uploaded_at = now()",
        unit,
        sha256,
        size,
    )


async def uploaded_size(conn: Connection, unit: str, sha256: str) -> int | None:
    """The size of what `unit` put in the store under `sha256`, or None if it put nothing."""
    size: int | None = await conn.fetchval(
        "SELECT size FROM claim_uploads WHERE unit = $1 AND sha256 = $2", unit, sha256
    )
    return size
