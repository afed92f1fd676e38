"""The registers' queries on the real PostgreSQL: every search field, a quarter's bounds in
Vietnam's time, paging, and what a document's page shows to whom."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import pytest

from console import registers
from console.registers import Direction, Event, IncomingEntry, OutgoingEntry, Search

pytestmark = pytest.mark.postgres

PROVINCE, A, B = "000.00.00.H62", "000.02.00.H62", "000.03.00.H62"
UNITS = [
    (PROVINCE, "UBND tỉnh Vĩnh Long", "province", None),
    (A, "UBND xã Châu Thành", "commune", PROVINCE),
    (B, "UBND xã Mỏ Cày", "commune", PROVINCE),
]
UTC = datetime.UTC
LAST_OF_MARCH = datetime.datetime(2026, 3, 31, 16, 59, tzinfo=UTC)  # 23:59 in Vietnam
FIRST_OF_APRIL = datetime.datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # 00:00 in Vietnam


def _id() -> str:
    return str(uuid.uuid4())


async def _incoming(
    db: asyncpg.Connection,
    number: int,
    at: datetime.datetime,
    *,
    unit: str = A,
    message: str | None = None,
    sender: str = PROVINCE,
    code: tuple[str | None, str | None] = (None, None),
    document_id: str | None = None,
    subject: str = "Công văn thường",
    author: str | None = None,
) -> str:
    message = message or _id()
    await db.execute(
        "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
        " document_id, subject, received_at, sent_at, edxml, code_number, code_notation,"
        " document_type, author) VALUES ($1, $2, $3, $4, 'document', $5, $6, $7, $8, $8,"
        " '\\x00', $9, $10, 'Công văn', $11)",
        unit, at.year, number, message, sender, document_id, subject, at, *code, author,
    )  # fmt: skip
    return message


async def _outgoing(
    db: asyncpg.Connection,
    number: int,
    at: datetime.datetime,
    recipients: list[str],
    *,
    unit: str = PROVINCE,
    message: str | None = None,
    notation: str = "UBND-VP",
) -> str:
    message = message or _id()
    await db.execute(
        "INSERT INTO outgoing_register (unit, year, number, message_id, document_id, kind,"
        " subject, recipients, created_at, code_number, code_notation, signer)"
        " VALUES ($1, $2, $3, $4, NULL, 'document', 'Kế hoạch năm', $5, $6, $8, $7,"
        " 'Nguyễn Văn A')",
        unit, at.year, number, message, recipients, at, notation, str(number),
    )  # fmt: skip
    return message


@pytest.fixture
async def units(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.executemany(
        "INSERT INTO units (organ_id, name, level, parent) VALUES ($1, $2, $3, $4)", UNITS
    )
    return db


async def _numbers(
    db: asyncpg.Connection, register: Direction, unit: str, **search: object
) -> list[int]:
    found = await registers.find(db, register, unit, Search(**search))  # type: ignore[arg-type]
    return [entry.number for entry in found.entries]


async def test_every_search_field_narrows_the_incoming_register(units: asyncpg.Connection) -> None:
    db = units
    march = datetime.datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    await _incoming(db, 1, march, code=("125", "UBND-VP"), subject="V/v liên thông 100%")
    await _incoming(db, 2, march + datetime.timedelta(days=1), code=("007", "TB-UBND"))
    await _incoming(db, 3, LAST_OF_MARCH, document_id=f"{B},2026/03/30,9/QĐ-UBND", sender=B)
    await _incoming(db, 4, FIRST_OF_APRIL, code=("12", "KH-SNV"), author="Sở Nội vụ")
    await _incoming(db, 5, FIRST_OF_APRIL, unit=B, code=("125", "UBND-VP"))  # B's own
    incoming = Direction.INCOMING
    assert await _numbers(db, incoming, A) == [4, 3, 2, 1]
    assert await _numbers(db, incoming, A, number=1) == [1]
    assert await _numbers(db, incoming, A, number=7) == [2]  # its code number, 007
    assert await _numbers(db, incoming, A, notation="ubnd-vp") == [1]
    assert await _numbers(db, incoming, A, notation="QĐ-UBND") == [3]  # from the DocumentId
    assert await _numbers(db, incoming, A, notation="H62") == []  # not the DocumentId's organ
    assert await _numbers(db, incoming, A, party=B.lower()) == [3]
    assert await _numbers(db, incoming, A, party="Mỏ Cày") == [3]
    assert await _numbers(db, incoming, A, party="nội vụ") == [4]  # the author
    assert await _numbers(db, incoming, A, subject="100%") == [1]
    assert await _numbers(db, incoming, A, subject="0_") == []  # _ is no wildcard
    assert await _numbers(db, incoming, A, year=2026, quarter=1) == [3, 2, 1]
    assert await _numbers(db, incoming, A, year=2026, quarter=2) == [4]
    assert await _numbers(db, incoming, A, year=2025) == []
    day = datetime.date(2026, 3, 31)
    assert await _numbers(db, incoming, A, since=day, until=day) == [3]
    assert await _numbers(db, incoming, A, since=datetime.date(2026, 3, 11)) == [4, 3, 2]
    entries = (await registers.find(db, incoming, A, Search(number=3))).entries
    assert isinstance(entries[0], IncomingEntry)
    assert entries[0].sender_name == "UBND xã Mỏ Cày"
    assert entries[0].notation == "9/QĐ-UBND"


async def test_a_register_is_paged_fifty_at_a_time(units: asyncpg.Connection) -> None:
    db = units
    start = datetime.datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    for number in range(1, 56):
        await _incoming(db, number, start + datetime.timedelta(minutes=number))
    first = await registers.find(db, Direction.INCOMING, A, Search())
    second = await registers.find(db, Direction.INCOMING, A, Search(page=2))
    assert (first.total, first.pages, len(first.entries), len(second.entries)) == (55, 2, 50, 5)
    assert [e.number for e in second.entries] == [5, 4, 3, 2, 1]
    beyond = await registers.find(db, Direction.INCOMING, A, Search(page=3))
    assert beyond.entries == []
    assert beyond.total == 55


async def test_the_outgoing_register_names_its_recipients_and_their_answers(
    units: asyncpg.Connection,
) -> None:
    db = units
    message = await _outgoing(db, 1, LAST_OF_MARCH, [A, B])
    await _outgoing(db, 2, FIRST_OF_APRIL, [B], notation="QĐ-UBND")
    await db.execute(
        "INSERT INTO outgoing_status (unit, message_id, recipient, status_code, reason_code, at,"
        " status_message_id) VALUES ($1, $2, $3, '01', NULL, now(), 's1'),"
        " ($1, $2, $4, '02', 'policy_invalid', now(), 's2'),"
        " ($1, $2, $3, '03', NULL, now(), 's3')",
        PROVINCE, message, A, B,
    )  # fmt: skip
    outgoing = Direction.OUTGOING
    assert await _numbers(db, outgoing, PROVINCE, party="châu thành") == [1]
    assert await _numbers(db, outgoing, PROVINCE, party=B) == [2, 1]
    assert await _numbers(db, outgoing, PROVINCE, notation="QĐ") == [2]
    assert await _numbers(db, outgoing, A) == []
    (entry,) = await registers.quarter_entries(db, outgoing, PROVINCE, 2026, 1)
    assert isinstance(entry, OutgoingEntry)
    assert entry.recipients == ((A, "UBND xã Châu Thành"), (B, "UBND xã Mỏ Cày"))
    assert entry.states == {A: "03", B: "02"}
    assert entry.form_row()[0] == "1/UBND-VP"
    assert entry.form_row()[-1] == "Bị từ chối: UBND xã Mỏ Cày"
    numbers = [e.number for e in await registers.quarter_entries(db, outgoing, PROVINCE, 2026, 2)]
    assert numbers == [2]


async def _document(db: asyncpg.Connection) -> str:
    """PROVINCE sends to A and B; A registered it, B refused it; the ledger held it first."""
    message = await _outgoing(db, 1, FIRST_OF_APRIL, [A, B])
    later = FIRST_OF_APRIL + datetime.timedelta(minutes=1)
    await db.execute(
        "INSERT INTO messages (message_id, kind, sender, size, created_at, received_at, verdict,"
        " reason_code, reason, source) VALUES ($1, 'document', $2, 10, $3, $3, 'routed',"
        " NULL, NULL, 'test')",
        message, PROVINCE, FIRST_OF_APRIL,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO deliveries (message_id, recipient, delivered_to, state, reason_code)"
        " VALUES ($1, $2, $2, '01', NULL), ($1, $3, $3, '02', 'policy_invalid')",
        message, A, B,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO delivery_events (message_id, recipient, state, at, reason_code, detail)"
        " VALUES ($1, $2, 'routed', $4, NULL, NULL), ($1, $3, 'routed', $4, NULL, NULL),"
        " ($1, $2, '01', $4, NULL, NULL), ($1, $3, '02', $4, 'policy_invalid', 'B says no')",
        message, A, B, later,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO outgoing_status (unit, message_id, recipient, status_code, reason_code,"
        " description, at, status_message_id) VALUES ($1, $2, $3, '02', 'policy_invalid',"
        " 'B says no', $4, 's1')",
        PROVINCE, message, B, later,
    )  # fmt: skip
    await _incoming(db, 9, later, message=message, code=("1", "UBND-VP"))
    return message


def _whats(events: list[Event]) -> set[tuple[str, str, str | None]]:
    return {(e.source, e.what, e.party) for e in events}


async def test_the_sender_sees_every_recipient_and_what_it_heard(units: asyncpg.Connection) -> None:
    message = await _document(units)
    doc = await registers.document(units, message, lambda unit: unit == PROVINCE)
    assert doc is not None
    assert doc.sender_view
    assert doc.hidden == 0
    assert doc.outgoing_number == 1
    assert [(d.recipient, d.state, d.incoming_number) for d in doc.deliveries] == [
        (A, "01", None),  # A's số đến is A's register, not the sender's
        (B, "02", None),
    ]
    assert {
        ("ledger", "message", None), ("sender", "registered_out", None),
        ("ledger", "02", B), ("sender", "02", B), ("ledger", "01", A),
    } <= _whats(doc.events)  # fmt: skip
    assert ("recipient", "registered_in", A) not in _whats(doc.events)
    assert doc.facts.notation == "1/UBND-VP"
    assert doc.names[B] == "UBND xã Mỏ Cày"


async def test_a_recipient_sees_its_own_delivery_only(units: asyncpg.Connection) -> None:
    message = await _document(units)
    doc = await registers.document(units, message, lambda unit: unit == A)
    assert doc is not None
    assert not doc.sender_view
    assert doc.outgoing_number is None
    assert doc.hidden == 1
    assert [(d.recipient, d.incoming_number) for d in doc.deliveries] == [(A, 9)]
    whats = _whats(doc.events)
    assert ("recipient", "registered_in", A) in whats
    assert not [w for w in whats if w[0] == "sender" or w[2] == B]
    assert doc.facts.notation == "1/UBND-VP"


async def test_a_document_nobody_here_may_read_is_as_absent_as_none(
    units: asyncpg.Connection,
) -> None:
    message = await _document(units)
    third = "000.00.02.H62"
    assert await registers.document(units, message, lambda unit: unit == third) is None
    assert await registers.document(units, _id(), lambda unit: True) is None
