"""The receiving connector trusts only what the router delivered to it: records written
straight onto a unit topic (by an attacker holding the admin's credentials, say), copied
from another unit's topic, or endorsed by anyone but the router are quarantined with their
reason and never registered, while the honest flow around them goes through."""

from __future__ import annotations

import datetime
import functools
import json
import os
import stat
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from connectors import packing
from schemas import codec
from schemas.envelope import StatusBody, status_id
from signing.endorsement import endorse
from signing.identity import Identity
from tests.e2e.conftest import CLOSED_DISTRICT, COMMUNE_A, COMMUNE_B, PROVINCE, Exchange
from tests.e2e.test_cli_exchange import cli
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


async def _rows(exchange: Exchange, query: str, *args: Any) -> list[dict[str, Any]]:
    return await exchange.fetch(query, *args)


async def _quarantined(exchange: Exchange, unit: str, offset: int) -> list[dict[str, Any]]:
    return await exchange.fetch(
        'SELECT * FROM incoming_quarantine WHERE unit = $1 AND "offset" = $2', unit, offset
    )


async def _as_admin(
    exchange: Exchange, topic: str, value: bytes, headers: list[tuple[str, bytes]], key: bytes
) -> int:
    """Write a record as the cluster's admin: the attacker who stole the admin's rights."""
    producer = AIOKafkaProducer(**exchange.endpoints.kafka.aiokafka(), acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    return int(sent.offset)


async def _delivered(exchange: Exchange, unit: str, message_id: str) -> ConsumerRecord:
    """The record the router delivered on `unit`'s topic, read as the admin."""
    consumer = AIOKafkaConsumer(**exchange.endpoints.kafka.aiokafka(), enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(exchange.topics.unit(unit), 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        for _ in range(50):
            batch = await consumer.getmany(partition, timeout_ms=500)
            for record in batch.get(partition, []):
                if record.key == message_id.encode():
                    return record
    finally:
        await consumer.stop()
    raise AssertionError(f"{message_id} is not on {unit}'s topic")


async def _not_registered(exchange: Exchange, unit: str, message_id: str) -> None:
    rows = await exchange.fetch(
        "SELECT 1 FROM incoming_register WHERE unit = $1 AND message_id = $2", unit, message_id
    )
    assert rows == []


async def _honest_flow_still_works(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await exchange.until(
        functools.partial(
            _rows, exchange,
            "SELECT 1 FROM incoming_register WHERE unit = $1 AND message_id = $2",
            COMMUNE_A, body.message_id,
        ),
        what="the honest document registered",
    )  # fmt: skip


async def test_a_record_written_straight_to_a_unit_topic_is_quarantined(
    exchange: Exchange,
) -> None:
    sender = Identity.load(exchange.pki_dir / "units" / PROVINCE, PROVINCE)
    body = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = sender.seal(exchange.connector.registry, body)
    offset = await _as_admin(
        exchange, exchange.topics.unit(COMMUNE_A), value, headers, body.message_id.encode()
    )
    kept = await exchange.until(
        lambda: _quarantined(exchange, COMMUNE_A, offset), what="the bypass quarantined"
    )
    assert kept[0]["reason_code"] == "endorsement_missing"
    assert bytes(kept[0]["value"]) == value
    code, out, err = await cli(exchange, "inbox", "quarantined", "--unit", COMMUNE_A, "--json")
    assert code == 0, err
    assert [k["reason_code"] for k in json.loads(out)] == ["endorsement_missing"]
    await _not_registered(exchange, COMMUNE_A, body.message_id)
    receipt = status_id(body.message_id, COMMUNE_A, "01")
    assert await exchange.fetch("SELECT 1 FROM outbox WHERE message_id = $1", receipt) == []
    await _honest_flow_still_works(exchange)


async def test_a_record_copied_from_another_units_topic_is_quarantined(
    exchange: Exchange,
) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_B])
    genuine = await _delivered(exchange, COMMUNE_B, body.message_id)
    offset = await _as_admin(
        exchange, exchange.topics.unit(COMMUNE_A), genuine.value, list(genuine.headers),
        genuine.key,
    )  # fmt: skip
    kept = await exchange.until(
        lambda: _quarantined(exchange, COMMUNE_A, offset), what="the copy quarantined"
    )
    assert kept[0]["reason_code"] == "not_a_recipient"
    assert kept[0]["message_id"] is None or kept[0]["message_id"] == body.message_id
    await _not_registered(exchange, COMMUNE_A, body.message_id)
    await _honest_flow_still_works(exchange)


async def test_an_endorsement_made_by_a_unit_is_refused(exchange: Exchange) -> None:
    """A unit's own valid key cannot stand in for the router's."""
    sender = Identity.load(exchange.pki_dir / "units" / PROVINCE, PROVINCE)
    body = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = sender.seal(exchange.connector.registry, body)
    forged = endorse(
        sender, exchange.connector.registry, value, message_id=body.message_id,
        delivered_to=COMMUNE_A, requested=COMMUNE_A, paper_copy_required=True,
    )  # fmt: skip
    offset = await _as_admin(
        exchange, exchange.topics.unit(COMMUNE_A), value, [*headers, forged],
        body.message_id.encode(),
    )  # fmt: skip
    kept = await exchange.until(
        lambda: _quarantined(exchange, COMMUNE_A, offset), what="the forgery quarantined"
    )
    assert kept[0]["reason_code"] == "endorsement_invalid"
    await _not_registered(exchange, COMMUNE_A, body.message_id)


async def test_a_genuine_endorsement_on_another_envelope_is_refused(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    genuine = await _delivered(exchange, COMMUNE_A, body.message_id)
    endorsement = [(k, v) for k, v in genuine.headers if k == codec.ENDORSEMENT_HEADER]
    sender = Identity.load(exchange.pki_dir / "units" / PROVINCE, PROVINCE)
    other = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = sender.seal(exchange.connector.registry, other)
    offset = await _as_admin(
        exchange, exchange.topics.unit(COMMUNE_A), value, [*headers, *endorsement],
        other.message_id.encode(),
    )  # fmt: skip
    kept = await exchange.until(
        lambda: _quarantined(exchange, COMMUNE_A, offset), what="the swap quarantined"
    )
    assert kept[0]["reason_code"] == "endorsement_invalid"
    await _not_registered(exchange, COMMUNE_A, other.message_id)


async def test_a_status_about_a_document_the_unit_never_sent_is_kept_aside(
    exchange: Exchange,
) -> None:
    """A unit's genuinely signed status about a message its addressee never sent: the router
    refuses it (it routed no such message); and a copy endorsed with the router's key as if
    the router had passed it (a router defect, its key misused) reaches that unit and is
    quarantined there, not recorded."""
    liar = Identity.load(exchange.pki_dir / "units" / COMMUNE_B, COMMUNE_B)
    about = str(uuid.uuid4())
    status = StatusBody(
        message_id=status_id(about, COMMUNE_B, "06"), responds_to=about, sender=COMMUNE_B,
        recipient=PROVINCE, status_code="06",
        created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
    )  # fmt: skip
    headers, value = liar.seal(exchange.connector.registry, status)
    await exchange.connector.producer(COMMUNE_B).send_and_wait(
        exchange.topics.submit, value, key=COMMUNE_B.encode(), headers=headers
    )
    verdict = await exchange.until(
        functools.partial(
            _rows, exchange, "SELECT reason_code FROM messages WHERE message_id = $1",
            status.message_id,
        ),
        what="the router's verdict on the status",
    )  # fmt: skip
    assert verdict == [{"reason_code": "status_unknown_message"}]
    endorsed = [*headers, exchange.router_endorsement(value, status.message_id, PROVINCE)]
    await _as_admin(
        exchange, exchange.topics.unit(PROVINCE), value, endorsed, status.message_id.encode()
    )
    kept = await exchange.until(
        functools.partial(
            _rows, exchange, "SELECT * FROM incoming_quarantine WHERE message_id = $1",
            status.message_id,
        ),
        what="the status quarantined",
    )  # fmt: skip
    assert (kept[0]["unit"], kept[0]["reason_code"]) == (PROVINCE, "status_unknown_message")
    assert not await exchange.fetch(
        "SELECT 1 FROM outgoing_status WHERE status_message_id = $1", status.message_id
    )
    await _honest_flow_still_works(exchange)


async def test_router_headers_a_sender_sets_itself_are_not_believed(exchange: Exchange) -> None:
    sender = Identity.load(exchange.pki_dir / "units" / PROVINCE, PROVINCE)
    body = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = sender.seal(exchange.connector.registry, body)
    claimed = [
        (codec.PAPER_HEADER, b"1"),
        (codec.HOPS_HEADER, CLOSED_DISTRICT.encode()),
        (codec.REQUESTED_HEADER, COMMUNE_B.encode()),
    ]
    await exchange.connector.producer(PROVINCE).send_and_wait(
        exchange.topics.submit, value, key=PROVINCE.encode(), headers=[*headers, *claimed]
    )
    rows = await exchange.until(
        functools.partial(
            _rows, exchange,
            "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2",
            COMMUNE_A, body.message_id,
        ),
        what="registered",
    )  # fmt: skip
    assert rows[0]["paper_copy_required"] is False
    assert rows[0]["redirected_from"] is None
    delivered = await _delivered(exchange, COMMUNE_A, body.message_id)
    assert (codec.PAPER_HEADER, b"1") not in delivered.headers
    assert dict(delivered.headers)[codec.REQUESTED_HEADER] == COMMUNE_A.encode()


async def test_client_config_command_writes_a_private_file_and_refuses_strangers(
    exchange: Exchange,
) -> None:
    target = exchange.settings.kafka_clients_dir / "province.properties"
    code, _, err = await cli(
        exchange, "kafka", "client-config", "--unit", PROVINCE, "-o", str(target)
    )
    assert code == 0, err
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    text = target.read_text()
    assert "security.protocol=SASL_SSL" in text
    assert "sasl.mechanism=SCRAM-SHA-512" in text
    assert f'username="{exchange.topics.unit_user(PROVINCE)}"' in text
    assert "ssl.truststore.type=PEM" in text
    code, _, err = await cli(exchange, "kafka", "client-config", "--unit", "000.99.99.H62")
    assert code == 2
    assert "unit_unknown" in err
