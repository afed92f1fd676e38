"""The Department's queries on a real migrated schema, with ledger and register rows written
as the router and the connectors write them: what is counted, in which period, and that a
unit outside the viewer's scope never is."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

import asyncpg
import pytest

from connectors import registers
from console import monitor
from console.monitor import Period, Refusal
from schemas import edxml
from tests.documents import document

pytestmark = pytest.mark.postgres

PROVINCE, DEPARTMENT, COMMUNE = "000.00.00.H62", "000.00.02.H62", "000.02.00.H62"
OTHER = "000.00.00.H07"
UNKNOWN = "000.00.99.H62"
SCOPE = [PROVINCE, DEPARTMENT, COMMUNE]
Step = tuple[str, datetime.datetime] | tuple[str, datetime.datetime, str | None, str | None]
NOVEMBER = Period(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))


def utc(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=datetime.UTC)


def _due(due: datetime.date) -> bytes:
    packet = edxml.parse(document(PROVINCE, [COMMUNE]))
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(dataclasses.replace(packet, due_date=due))


async def _message(
    db: asyncpg.Connection,
    message_id: str,
    sender: str,
    at: datetime.datetime,
    *,
    verdict: str = "routed",
    reason_code: str | None = None,
    kind: str = "document",
) -> None:
    await db.execute(
        "INSERT INTO messages (message_id, kind, sender, size, created_at, received_at,"
        " first_received_at, verdict, reason_code, source)"
        " VALUES ($1, $2, $3, 100, $4, $4, $4, $5, $6, 'test')",
        message_id,
        kind,
        sender,
        at,
        verdict,
        reason_code,
    )


async def _delivery(
    db: asyncpg.Connection,
    message_id: str,
    recipient: str,
    state: str,
    steps: Sequence[Step],
    *,
    delivered_to: str | None = None,
) -> None:
    """A delivery and its timeline: (state, at[, reason code, status message id])."""
    timeline = [(*step, None, None)[:4] for step in steps]
    updated = timeline[-1][1]
    await db.execute(
        "INSERT INTO deliveries (message_id, recipient, delivered_to, state, updated_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        message_id,
        recipient,
        recipient if delivered_to is None and state != "rejected" else delivered_to,
        state,
        updated,
    )
    for step, at, reason, status_id in timeline:
        await db.execute(
            "INSERT INTO delivery_events (message_id, recipient, state, at, reason_code,"
            " status_message_id) VALUES ($1, $2, $3, $4, $5, $6)",
            message_id,
            recipient,
            step,
            at,
            reason,
            status_id,
        )


async def _registered(
    db: asyncpg.Connection, unit: str, number: int, message_id: str, status: str, packet: bytes
) -> None:
    """An incoming entry with the columns the connector fills from the packet (its due date)."""
    columns = registers.Columns.of(edxml.parse(packet))
    await db.execute(
        "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
        " document_id, subject, received_at, sent_at, status, edxml, due_date)"
        " VALUES ($1, 2026, $2, $3, 'document', $4, 'x', 'Trích yếu', $5, $5, $6, $7, $8)",
        unit,
        number,
        message_id,
        PROVINCE,
        utc(10, 2),
        status,
        packet,
        columns.due_date,
    )


@pytest.fixture
async def ledger(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.executemany(
        "INSERT INTO units (organ_id, name, level, parent) VALUES ($1, $2, $3, $4)",
        [
            (PROVINCE, "UBND tỉnh Vĩnh Long", "province", None),
            (DEPARTMENT, "Sở Nội vụ tỉnh Vĩnh Long", "province", PROVINCE),
            (COMMUNE, "UBND xã Châu Thành", "commune", PROVINCE),
            (OTHER, "UBND tỉnh Bến Tre", "province", None),
        ],
    )
    # m1: acknowledged after 10 minutes. m2: never acknowledged (overdue). m3: from outside
    # the scope, delivered on a Thursday evening. m4: refused whole. m5: outside the scope.
    # m6: one recipient unknown to the router, the other refusing it. m7: done (06), then a
    # 02 refused for going backwards.
    await _message(db, "m1", PROVINCE, utc(10, 2))
    await _delivery(db, "m1", COMMUNE, "01", [("routed", utc(10, 2)), ("01", utc(10, 2, 10))])
    await _message(db, "m2", PROVINCE, utc(11, 3))
    await _delivery(db, "m2", DEPARTMENT, "routed", [("routed", utc(11, 3))])
    await _message(db, "m3", OTHER, utc(12, 11))
    await _delivery(db, "m3", COMMUNE, "routed", [("routed", utc(12, 11))])
    await _message(
        db, "m4", PROVINCE, utc(12, 1), verdict="rejected", reason_code="signature_invalid"
    )
    await _message(db, "m5", OTHER, utc(12, 1), verdict="rejected", reason_code="envelope_too_old")
    await _message(db, "m6", PROVINCE, utc(13, 2))
    await _delivery(
        db, "m6", UNKNOWN, "rejected", [("02", utc(13, 2), "unit_unknown", None)]
    )  # fmt: skip
    await _delivery(
        db, "m6", COMMUNE, "02", [("routed", utc(13, 2)), ("02", utc(13, 3), None, "s6")]
    )  # fmt: skip
    await _message(db, "s6", COMMUNE, utc(13, 3), kind="status")
    await _message(db, "m7", PROVINCE, utc(14, 2))
    await _delivery(
        db, "m7", COMMUNE, "06",
        [("routed", utc(14, 2)), ("01", utc(14, 2, 20)), ("06", utc(16, 2)),
         ("02", utc(16, 3), "status_backwards", "s7")],
    )  # fmt: skip
    await _message(
        db, "old", PROVINCE, datetime.datetime(2026, 10, 31, 16, 59, tzinfo=datetime.UTC)
    )
    await db.executemany(
        "INSERT INTO held (message_id, sender, held_at, headers, original, state)"
        " VALUES ($1, $2, $3, '[]', 'x', $4)",
        [
            ("h1", PROVINCE, utc(12, 1), "held"),
            ("h2", PROVINCE, utc(5, 1), "released"),
            ("h3", OTHER, utc(5, 1), "held"),
        ],
    )
    await db.executemany(
        'INSERT INTO dead_letters (topic, partition, "offset", original, stage, reason_code,'
        " reason, sender, received_at, replayed_at) VALUES ('t', 0, $1, 'x', 'verify',"
        " 'signature_invalid', 'r', $2, $3, $4)",
        [
            (1, PROVINCE, utc(10, 1), None),
            (2, PROVINCE, datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC), utc(2, 1)),
            (3, None, utc(10, 1), None),
            (4, OTHER, utc(10, 1), None),
        ],
    )
    await _registered(db, COMMUNE, 1, "m1", "01", _due(datetime.date(2026, 11, 5)))
    await _registered(db, COMMUNE, 2, "m7", "06", _due(datetime.date(2026, 11, 5)))
    await _registered(db, DEPARTMENT, 1, "m2", "01", _due(datetime.date(2026, 12, 5)))
    await _registered(db, OTHER, 1, "m9", "01", _due(datetime.date(2026, 11, 5)))
    await _registered(db, PROVINCE, 1, "m8", "01", document(PROVINCE, [COMMUNE]))
    await db.execute(
        "INSERT INTO accounts (username, full_name, unit, unit_abbreviation, role, issued_at,"
        " issued_by) VALUES ('ttlan.xachauthanh', 'Trần Thị Lan', $1, 'xachauthanh', 'clerk',"
        " $2, 'test')",
        COMMUNE,
        utc(1, 1),
    )
    await db.execute(
        "INSERT INTO account_events (at, username, actor, event) VALUES"
        " ($1, 'ttlan.xachauthanh', 'ttlan.xachauthanh', 'login')",
        utc(10, 1),
    )
    return db


async def test_units_count_what_each_sent_received_and_answered(
    ledger: asyncpg.Connection,
) -> None:
    rows = {row.organ_id: row for row in await monitor.units(ledger, SCOPE, NOVEMBER)}
    assert set(rows) == set(SCOPE)
    province, department, commune = rows[PROVINCE], rows[DEPARTMENT], rows[COMMUNE]
    assert (province.sent, province.refused, province.received) == (5, 1, 0)
    assert (department.received, department.receipts) == (1, 0)
    assert (commune.sent, commune.received, commune.receipts, commune.done) == (0, 4, 2, 1)
    assert commune.logins == 1
    by_level = {level: (count, total) for level, count, total in monitor.levels(rows.values())}
    assert by_level["province"][0] == 2
    assert by_level["province"][1].sent == 5
    assert by_level["commune"][1].received == 4


async def test_days_cover_the_period_in_local_time(ledger: asyncpg.Connection) -> None:
    days = await monitor.days(ledger, SCOPE, NOVEMBER)
    assert len(days) == 30
    by_day = {d.day: (d.sent, d.received) for d in days}
    assert by_day[datetime.date(2026, 11, 10)] == (1, 1)
    # m3 was delivered at 18:00 in Hà Nội on the 12th; m4 sent at 08:00 that day.
    assert by_day[datetime.date(2026, 11, 12)] == (1, 1)
    assert sum(d.sent for d in days) == 5  # `old` was sent on 31 October, local time
    assert sum(d.received for d in days) == 5


async def test_latency_from_the_router_to_delivery_and_to_the_01(
    ledger: asyncpg.Connection,
) -> None:
    delivered, acknowledged = await monitor.latencies(ledger, SCOPE, NOVEMBER)
    assert (delivered.documents, delivered.median, delivered.longest) == (5, 0.0, 0.0)
    assert (acknowledged.documents, acknowledged.median, acknowledged.longest) == (2, 900, 1200)


async def test_refusals_by_reason_and_by_whom(ledger: asyncpg.Connection) -> None:
    refused = await monitor.refusals(ledger, SCOPE, NOVEMBER)
    assert sorted(refused, key=lambda r: r.reason_code) == [
        Refusal("", True, 1),
        Refusal("signature_invalid", False, 1),
        Refusal("unit_unknown", False, 1),
    ]


async def test_held_and_dead_letters_of_the_scope(ledger: asyncpg.Connection) -> None:
    backlog = await monitor.backlog(ledger, SCOPE, NOVEMBER)
    assert backlog == monitor.Backlog(
        held_waiting=1,
        held_in_period=2,
        held_released=1,
        held_rejected=0,
        dead_in_period=1,
        dead_waiting=1,
    )


async def test_overdue_receipts_at_the_working_days_end(ledger: asyncpg.Connection) -> None:
    # Thursday 12 November, 19:00 in Hà Nội: m2 (Wednesday morning) is overdue; m3,
    # delivered at 18:00 that Thursday, is due by Friday 17:00.
    total, rows = await monitor.overdue_receipts(ledger, SCOPE, utc(12, 12))
    assert total == 1
    assert [(r.message_id, r.recipient, r.recipient_name) for r in rows] == [
        ("m2", DEPARTMENT, "Sở Nội vụ tỉnh Vĩnh Long")
    ]
    assert rows[0].deadline == datetime.datetime(2026, 11, 11, 17, tzinfo=monitor.LOCAL)
    total, rows = await monitor.overdue_receipts(ledger, SCOPE, utc(13, 10, 1))
    assert [r.message_id for r in rows] == ["m2", "m3"]
    assert rows[1].sender_name == "UBND tỉnh Bến Tre"
    total, rows = await monitor.overdue_receipts(ledger, [COMMUNE], utc(12, 12))
    assert (total, rows) == (0, [])


async def test_past_due_documents_without_06(ledger: asyncpg.Connection) -> None:
    total, rows = await monitor.past_due(ledger, SCOPE, datetime.date(2026, 11, 12))
    assert total == 1
    assert [(r.unit, r.number, r.due, r.sender_name) for r in rows] == [
        (COMMUNE, 1, datetime.date(2026, 11, 5), "UBND tỉnh Vĩnh Long")
    ]
    assert await monitor.past_due(ledger, SCOPE, datetime.date(2026, 11, 5)) == (0, [])
