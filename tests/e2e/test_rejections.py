"""Refusals on real Kafka: a status 02 signed by the router, a dead letter holding the
original bytes, the router still running, and operators' replays that never deliver twice."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from broker import replay
from broker.directory import Unit, store
from connectors import packing
from kernel import database, kafka
from schemas.codec import fingerprint_header
from signing.identity import Identity
from signing.testpki import TestPki
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()
NEW_COMMUNE = "000.09.00.H62"
UNKNOWN = "000.77.00.H62"


async def _rows(exchange: Exchange, query: str, *args: Any) -> list[dict[str, Any]]:
    return await exchange.fetch(query, *args)


async def _publish(
    exchange: Exchange, value: bytes, key: str, headers: list[tuple[str, bytes]]
) -> None:
    await exchange.connector.producer(PROVINCE).send_and_wait(
        exchange.topics.submit, value, key=key.encode(), headers=headers
    )


async def test_an_untrusted_signature_is_dead_lettered_and_nobody_is_told(
    exchange: Exchange,
) -> None:
    """Nobody proved they sent it, so the router signs nothing about it: a 02 would be a
    refusal forged without a key, to whichever unit the forger named."""
    stranger = TestPki().unit(PROVINCE)
    forged = Identity(PROVINCE, stranger.key, stranger.chain)
    body = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = forged.seal(exchange.router.registry, body)
    before = await _records_in(exchange, exchange.topics.unit(PROVINCE))
    await _publish(exchange, value, PROVINCE, headers)

    letters = await exchange.until(
        functools.partial(
            _rows, exchange, "SELECT * FROM dead_letters WHERE message_id = $1", body.message_id
        ),
        what="dead letter",
    )
    assert letters[0]["reason_code"] == "certificate_untrusted"
    assert letters[0]["stage"] == "authenticate"
    assert bytes(letters[0]["original"]) == value
    # No ledger row under the id nobody proved: it could overwrite a real message's verdict.
    assert not await exchange.fetch("SELECT 1 FROM messages WHERE message_id = $1", body.message_id)
    assert await _records_in(exchange, exchange.topics.unit(PROVINCE)) == before
    assert not await exchange.fetch(
        "SELECT 1 FROM outgoing_status WHERE message_id = $1", body.message_id
    )
    assert not await exchange.fetch(
        "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id
    )


async def test_garbage_goes_to_dead_letters_and_the_router_keeps_going(exchange: Exchange) -> None:
    await _publish(exchange, b"\x00\xffnot avro", PROVINCE, [])
    await _publish(exchange, b"\x00\xffnot avro either", PROVINCE, fingerprint_header(b"\x01" * 8))
    letters = await exchange.until(
        functools.partial(_rows, exchange, "SELECT reason_code FROM dead_letters ORDER BY id"),
        what="two dead letters",
    )
    await exchange.until(
        lambda: _count(exchange, "SELECT count(*) AS n FROM dead_letters", 2), what="both"
    )
    letters = await exchange.fetch("SELECT reason_code FROM dead_letters ORDER BY id")
    assert [row["reason_code"] for row in letters] == [
        "envelope_malformed",
        "schema_unknown_fingerprint",
    ]
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT 1 FROM incoming_register WHERE message_id = $1",
            body.message_id,
        ),
        what="the next document still delivered",
    )


async def _count(exchange: Exchange, query: str, expected: int, *args: Any) -> bool:
    rows = await exchange.fetch(query, *args)
    return bool(rows[0]["n"] >= expected)


async def test_unknown_recipients_are_refused_alone(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [COMMUNE_A, UNKNOWN]), [COMMUNE_A, UNKNOWN]
    )
    await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT 1 FROM incoming_register WHERE message_id = $1",
            body.message_id,
        ),
        what="the known recipient served",
    )
    refusals = await exchange.refusals(body.message_id)
    assert refusals[0]["reason_code"] == "unit_unknown"
    assert "000.77.00.H62" in refusals[0]["description"]


async def test_replay_after_a_directory_fix_delivers_once(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [NEW_COMMUNE]), [NEW_COMMUNE]
    )
    letters = await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT id, reason_code FROM dead_letters WHERE message_id = $1",
            body.message_id,
        ),
        what="refused: recipient unknown",
    )
    assert letters[0]["reason_code"] == "unit_unknown"

    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        directory = await store.fetch(conn)
        await store.save(
            conn,
            type(directory)(
                [*directory.units.values(), Unit(NEW_COMMUNE, "Xã Mới", "commune", parent=PROVINCE)]
            ),
        )
        unit_topic = [s for s in exchange.topics.specs([NEW_COMMUNE]) if NEW_COMMUNE in s.name]
        await kafka.ensure_topics(exchange.endpoints.kafka, unit_topic)
        for _ in range(2):
            done = await replay.run(
                conn, exchange.connector.producer(PROVINCE), exchange.topics, [letters[0]["id"]],
                actor="cvtrong.stttt", why="đã bổ sung xã mới vào danh mục",
            )  # fmt: skip
            assert done[0]["replayed"]
    finally:
        await conn.close()
    await exchange.until(
        lambda: _count(
            exchange,
            "SELECT count(*) AS n FROM messages WHERE message_id = $1 AND verdict = 'routed'",
            1,
            body.message_id,
        ),
        what="routed after the replay",
    )
    assert [
        r["state"]
        for r in await exchange.fetch(
            "SELECT state FROM deliveries WHERE message_id = $1", body.message_id
        )
    ] in (["routed"], ["01"])
    audit = await exchange.fetch(
        "SELECT actor, detail->>'why' AS why FROM audit WHERE action = 'replay'"
    )
    assert len(audit) == 2
    assert audit[0] == {"actor": "cvtrong.stttt", "why": "đã bổ sung xã mới vào danh mục"}
    assert (
        await exchange.fetch(
            "SELECT replay_count FROM dead_letters WHERE id = $1", letters[0]["id"]
        )
    )[0]["replay_count"] == 2


async def _true(value: bool) -> bool:
    return value


async def _records_in(exchange: Exchange, topic: str) -> int:
    consumer = AIOKafkaConsumer(**exchange.endpoints.kafka.aiokafka())
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        offsets = await consumer.end_offsets([partition])
        return int(offsets[partition])
    finally:
        await consumer.stop()
