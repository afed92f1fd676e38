"""The ledger's memory of first receptions: an operator's replay, a release from review or a
routing a crash cut short is judged as of the first time the router received those bytes;
the same bytes merely sent again, or another envelope naming the same id, are judged now."""

from __future__ import annotations

import datetime
import hashlib
import json

import asyncpg
import pytest

from broker import ledger
from broker.stages.address import Route

pytestmark = pytest.mark.postgres
FIRST = datetime.datetime(2026, 11, 20, 8, 30, tzinfo=datetime.UTC)
ENVELOPE, OTHER = b"signed envelope bytes", b"other bytes naming the same id"


async def _dead_letter(
    db: asyncpg.Connection, message_id: str, original: bytes, at: datetime.datetime
) -> None:
    await db.execute(
        'INSERT INTO dead_letters (received_at, topic, partition, "offset", headers, original,'
        " stage, reason_code, reason, message_id, envelope_sha256)"
        " VALUES ($1, 'submit', 0, $2, $3::jsonb, $4, 'authenticate', 'revocation_unknown',"
        " 'stale CRL', $5, sha256($4))",
        at, int(at.timestamp()), json.dumps([]), original, message_id,
    )  # fmt: skip


async def test_a_replay_of_a_dead_letter_is_judged_at_its_first_reception(
    db: asyncpg.Connection,
) -> None:
    await _dead_letter(db, "m-1", ENVELOPE, FIRST)
    await _dead_letter(db, "m-1", ENVELOPE, FIRST + datetime.timedelta(days=3))
    assert (await ledger.seen(db, "m-1", ENVELOPE)).first_received_at is None, "not replayed"
    await db.execute("UPDATE dead_letters SET replay_requested_at = now()")
    assert (await ledger.seen(db, "m-1", ENVELOPE)).first_received_at == FIRST
    assert (await ledger.seen(db, "m-1", OTHER)).first_received_at is None
    assert (await ledger.seen(db, "m-2", ENVELOPE)).first_received_at == FIRST  # same bytes
    assert await ledger.seen(db, None, ENVELOPE) == ledger.Seen()


async def test_a_message_remembers_its_first_reception_and_its_sender(
    db: asyncpg.Connection,
) -> None:
    await db.execute(
        "INSERT INTO messages (message_id, kind, sender, size, created_at, verdict, source,"
        " envelope_sha256, first_received_at)"
        " VALUES ('m-3', 'document', '000.00.00.H62', 1, $1, 'routing', 's', $2, $1)",
        FIRST, hashlib.sha256(ENVELOPE).digest(),
    )  # fmt: skip
    seen = await ledger.seen(db, "m-3", ENVELOPE)
    assert (seen.verdict, seen.sender, seen.first_received_at) == (
        "routing",
        "000.00.00.H62",
        FIRST,
    )
    other = await ledger.seen(db, "m-3", OTHER)
    assert (other.verdict, other.first_received_at) == ("routing", None)
    # Once routed (or refused), the same bytes again are judged now.
    await db.execute("UPDATE messages SET verdict = 'rejected' WHERE message_id = 'm-3'")
    assert (await ledger.seen(db, "m-3", ENVELOPE)).first_received_at is None


def _routing(envelope: bytes, *, sender: str = "000.00.00.H62") -> ledger.Writes:
    facts = ledger.MessageFacts(
        message_id="m-4", kind="document", sender=sender, document_id=None, size=1,
        created_at=FIRST, responds_to=None, source="submit/0@1",
        envelope_sha256=hashlib.sha256(envelope).digest(), received_at=FIRST,
    )  # fmt: skip
    writes = ledger.Writes()
    writes.routing(facts, [Route(requested="000.02.00.H62", delivered_to="000.02.00.H62")], [])
    return writes


async def test_a_message_id_is_routed_by_the_record_that_claims_it_first(
    db: asyncpg.Connection,
) -> None:
    """The same id on both lanes, or from two routers: the envelope written first holds it;
    another envelope under that id is a duplicate, the same envelope again (a routing a
    crash cut short) takes it up."""
    assert await ledger.write(db, [_routing(ENVELOPE)]) == [True]
    assert await ledger.write(db, [_routing(OTHER)]) == [False]
    assert await ledger.write(db, [_routing(ENVELOPE)]) == [True]
    assert await ledger.write(db, [_routing(ENVELOPE, sender="000.00.01.H62")]) == [False]
    rows = await db.fetch("SELECT recipient FROM deliveries WHERE message_id = 'm-4'")
    assert [r["recipient"] for r in rows] == ["000.02.00.H62"]
    await ledger.mark_routed(db, ["m-4"])
    assert await ledger.write(db, [_routing(ENVELOPE)]) == [False], "routed: a duplicate now"
