"""The main job, run by `make demo`: a smoke exchange through the real services.

A message goes through a real Kafka topic and comes back, and a row goes into the real
ledger database and comes back. Later the four-level exchange replaces this.
"""

from __future__ import annotations

import json
import uuid

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kernel import database, kafka
from kernel.errors import KafkaUnavailable, ServiceFailed
from lienthong.devstack.stack import Endpoints

SMOKE_TOPIC = "lienthong.demo.smoke"
log = structlog.get_logger(__name__)


async def kafka_round_trip(bootstrap: str, topic: str, payload: bytes) -> bytes:
    """Produce `payload` and consume it back from the exact offset it was written at."""
    await kafka.ensure_topics(bootstrap, [kafka.TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    with kafka.mapped_errors("producing the smoke message failed"):
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, payload, key=b"smoke")
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    with kafka.mapped_errors("consuming the smoke message failed"):
        await consumer.start()
        try:
            partition = TopicPartition(topic, sent.partition)
            consumer.assign([partition])
            consumer.seek(partition, sent.offset)
            batch = await consumer.getmany(partition, timeout_ms=10_000, max_records=1)
        finally:
            await consumer.stop()
    records = batch.get(partition, [])
    if not records:
        raise KafkaUnavailable(
            f"the message written at {topic}@{sent.offset} could not be read back"
        )
    value: bytes = records[0].value
    return value


async def database_round_trip(dsn: str, subject: str, detail: dict[str, str]) -> dict[str, str]:
    conn = await database.connect(dsn)
    try:
        row_id = await conn.fetchval(
            "INSERT INTO audit (actor, action, subject, detail)"
            " VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
            "demo",
            "smoke",
            subject,
            json.dumps(detail),
        )
        stored = await conn.fetchval("SELECT detail::text FROM audit WHERE id = $1", row_id)
    finally:
        await conn.close()
    result: dict[str, str] = json.loads(stored)
    return result


async def run(found: Endpoints) -> str:
    message_id = str(uuid.uuid4())
    bound = log.bind(message_id=message_id)
    payload = json.dumps({"message_id": message_id, "text": "Xin chào liên thông"}).encode()
    echoed = await kafka_round_trip(found.kafka_bootstrap, SMOKE_TOPIC, payload)
    if echoed != payload:
        raise ServiceFailed("the smoke message came back changed")
    bound.info("kafka round trip", topic=SMOKE_TOPIC)
    detail = {"message_id": message_id, "topic": SMOKE_TOPIC}
    if await database_round_trip(found.database_url.reveal(), message_id, detail) != detail:
        raise ServiceFailed("the smoke row came back changed")
    bound.info("database round trip", table="audit")
    return message_id
