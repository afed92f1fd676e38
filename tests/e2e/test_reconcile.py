"""`lienthong reconcile` on a real exchange: quiet when the books agree, and each fault a
crash or a hand in the database could leave is listed with its kind."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from broker.reconcile import Kind
from kernel import database
from schemas import edxml
from tests.documents import document
from tests.e2e.conftest import (
    CLOSED_DISTRICT,
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    PROVINCE,
    Exchange,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _numbered(sender: str, to: list[str], n: int) -> bytes:
    """The fixture packet with a DocumentId of its own (a document is sent once)."""
    packet = edxml.parse(document(sender, to))
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(dataclasses.replace(packet, document_id=f"{sender},2026/11/20,{n}/T"))


async def _reconcile(exchange: Exchange) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = await exchange.cli("reconcile", "--json", "--grace", "0")
    assert code in (0, 1), err
    found: list[dict[str, Any]] = json.loads(out)["discrepancies"]
    assert (code == 1) == bool(found)
    return code, found


async def _owner(exchange: Exchange, statement: str, *args: Any) -> None:
    """A fault by hand, as the owner (the only role that may delete or forge rows)."""
    assert exchange.endpoints.owner_database_url
    conn = await database.connect(
        exchange.endpoints.owner_database_url.reveal(), schema=exchange.settings.database_schema
    )
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def _settled(exchange: Exchange, count: int) -> bool:
    """Every delivery answered 01 in the ledger and heard by its sender, nothing left in an
    outbox."""
    rows = await exchange.fetch(
        "SELECT (SELECT count(*) FROM deliveries WHERE state = '01') AS answered,"
        " (SELECT count(*) FROM outgoing_status WHERE status_code = '01') AS heard,"
        " (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent"
    )
    return bool(rows[0]["answered"] == rows[0]["heard"] == count and rows[0]["unsent"] == 0)


async def test_reconcile_is_quiet_then_lists_each_fault(exchange: Exchange) -> None:
    sent = [
        (await exchange.connector.send(PROVINCE, _numbered(PROVINCE, to, n), to))[0].message_id
        for n, to in enumerate([[COMMUNE_A, COMMUNE_B], [COMMUNE_A], [DEPARTMENT]], start=1)
    ]
    await exchange.until(lambda: _settled(exchange, 4), what="four deliveries answered 01")
    assert await _reconcile(exchange) == (0, [])

    def listed(found: list[dict[str, Any]]) -> set[tuple[str, str | None, str | None]]:
        return {(d["kind"], d["message_id"], d["unit"]) for d in found}

    # A register entry lost: the document was routed, the receiver's books forgot it.
    await _owner(
        exchange, "DELETE FROM incoming_register WHERE unit = $1 AND message_id = $2",
        COMMUNE_B, sent[0],
    )  # fmt: skip
    code, found = await _reconcile(exchange)
    assert code == 1
    assert listed(found) == {
        (Kind.NOT_REGISTERED, sent[0], COMMUNE_B),
        (Kind.REGISTER_GAP, None, COMMUNE_B),
    }

    # The same document entered again under a number (and id) of its own.
    await _owner(
        exchange,
        "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
        " document_id, subject, received_at, sent_at, status, edxml)"
        " SELECT unit, year, number + 2, message_id || '-again', kind, sender, document_id,"
        " subject, received_at, sent_at, status, edxml FROM incoming_register"
        " WHERE unit = $1 AND message_id = $2",
        COMMUNE_A, sent[1],
    )  # fmt: skip
    _, found = await _reconcile(exchange)
    assert (Kind.REGISTERED_TWICE, f"{sent[1]}-again", COMMUNE_A) in listed(found)
    assert (Kind.NOT_ROUTED, f"{sent[1]}-again", COMMUNE_A) in listed(found)

    # The ledger moved a delivery the receiver never moved.
    await _owner(
        exchange, "UPDATE deliveries SET state = '06' WHERE message_id = $1 AND recipient = $2",
        sent[2], DEPARTMENT,
    )  # fmt: skip
    _, found = await _reconcile(exchange)
    assert (Kind.STATE_DIFFERS, sent[2], DEPARTMENT) in listed(found)
    assert (Kind.STATE_DIFFERS, sent[2], PROVINCE) in listed(found)

    # The sender's database lost the commit that numbered a document already routed (an
    # immediate shutdown with asynchronous commit): its number is free to be given again.
    await _owner(
        exchange, "DELETE FROM outgoing_register WHERE unit = $1 AND message_id = $2",
        PROVINCE, sent[2],
    )  # fmt: skip
    await _owner(
        exchange,
        "UPDATE register_counters SET last = last - 1 WHERE unit = $1 AND register = 'out'",
        PROVINCE,
    )
    _, found = await _reconcile(exchange)
    assert (Kind.NOT_NUMBERED, sent[2], PROVINCE) in listed(found)
    assert (Kind.REGISTER_GAP, None, PROVINCE) not in listed(found)

    # The ledger says routed, the copy never reached the unit topic (a write Kafka lost).
    await _owner(
        exchange,
        "INSERT INTO messages (message_id, kind, sender, size, created_at, verdict, source)"
        " VALUES ('lost', 'document', $1, 1, now(), 'routed', 'lost')",
        PROVINCE,
    )
    await _owner(
        exchange,
        "INSERT INTO deliveries (message_id, recipient, delivered_to, state)"
        " VALUES ('lost', $1, $1, 'routed')",
        COMMUNE_A,
    )
    _, found = await _reconcile(exchange)
    assert (Kind.NOT_ON_TOPIC, "lost", COMMUNE_A) in listed(found)

    # A record the router refused is settled by the refusal; one it failed on (an internal
    # error, made so by hand here) is owed a replay until someone replays it.
    producer = exchange.connector._producers[PROVINCE]
    await producer.send_and_wait(exchange.topics.submit, b"not an envelope", key=b"x")
    await exchange.until(
        lambda: exchange.fetch("SELECT id FROM dead_letters"), what="a dead letter"
    )
    _, found = await _reconcile(exchange)
    assert Kind.DEAD_LETTER not in {d["kind"] for d in found}
    await _owner(exchange, "UPDATE dead_letters SET reason_code = 'internal_error'")
    _, found = await _reconcile(exchange)
    assert Kind.DEAD_LETTER in {d["kind"] for d in found}

    # An operator settles it without a replay: audited, and no longer listed; once only.
    (letter,) = await exchange.fetch("SELECT id FROM dead_letters")
    why = ("reconcile", "acknowledge", str(letter["id"]), "--why", "not an envelope: a test")
    code, out, err = await exchange.cli(*why, "--actor", "operator")
    assert code == 0, err
    assert json.loads(out) == [{"id": letter["id"], "acknowledged": True, "message_id": None}]
    _, found = await _reconcile(exchange)
    assert Kind.DEAD_LETTER not in {d["kind"] for d in found}
    audit = await exchange.fetch(
        "SELECT actor, detail->>'why' AS why FROM audit WHERE action = 'acknowledge'"
        " AND subject = $1",
        f"dead-letter:{letter['id']}",
    )
    assert audit == [{"actor": "operator", "why": "not an envelope: a test"}]
    code, out, _ = await exchange.cli(*why)
    assert code == 1
    assert json.loads(out)[0]["reason"] == "acknowledged before"


async def test_recipients_that_reach_one_unit_are_answered_once(exchange: Exchange) -> None:
    """A closed district redirected to the commune also addressed: the commune registers it
    once and its 01 moves one of the two deliveries; the other stays routed, no discrepancy."""
    to = [COMMUNE_A, CLOSED_DISTRICT]
    body, _ = await exchange.connector.send(PROVINCE, _numbered(PROVINCE, to, 1), to)
    await exchange.until(lambda: _settled(exchange, 1), what="the commune's 01")
    states = await exchange.fetch(
        "SELECT recipient, delivered_to, state FROM deliveries WHERE message_id = $1",
        body.message_id,
    )
    assert {(r["recipient"], r["delivered_to"]) for r in states} == {
        (COMMUNE_A, COMMUNE_A),
        (CLOSED_DISTRICT, COMMUNE_A),
    }
    assert await _reconcile(exchange) == (0, [])
