"""The real broker: produce, consume, idempotent topic creation, and mapped errors."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import UnknownTopicOrPartitionError

from kernel import kafka
from kernel.errors import KafkaUnavailable
from kernel.kafka import ClientConfig
from lienthong import demo
from tests.conftest import TopicFactory

pytestmark = pytest.mark.kafka


async def test_produce_and_consume_on_a_real_topic(
    kafka_admin: ClientConfig, new_topic: TopicFactory
) -> None:
    topic = await new_topic("roundtrip", partitions=3)
    producer = AIOKafkaProducer(**kafka_admin.aiokafka(), acks="all")
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic, f"văn bản {i}".encode(), key=b"000.00.00.H07")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_admin.aiokafka(),
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        while len(seen) < 20:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records arrived within 10 s"
            seen.extend(record.value for records in batch.values() for record in records)
    finally:
        await consumer.stop()
    # One key means one partition, so order is kept end to end.
    assert seen == [f"văn bản {i}".encode() for i in range(20)]


async def test_demo_round_trip_returns_the_exact_bytes(
    kafka_admin: ClientConfig, new_topic: TopicFactory
) -> None:
    topic = await new_topic("smoke")
    payload = bytes(range(256)) * 40
    assert await demo.kafka_round_trip(kafka_admin, topic, payload) == payload


async def test_ensure_topics_is_idempotent(
    kafka_admin: ClientConfig, new_topic: TopicFactory
) -> None:
    topic = await new_topic("idem")
    assert await kafka.ensure_topics(kafka_admin, [kafka.TopicSpec(topic)]) == []
    async with kafka.admin_client(kafka_admin) as client:
        assert topic in await client.list_topics()


async def test_auto_topic_creation_is_off(kafka_admin: ClientConfig) -> None:
    producer = AIOKafkaProducer(**kafka_admin.aiokafka(), request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait("lienthong.never.created", b"x")
    finally:
        await producer.stop()
    async with kafka.admin_client(kafka_admin) as client:
        assert "lienthong.never.created" not in await client.list_topics()


async def test_an_absent_broker_is_a_retriable_kafka_unavailable(unused_tcp_port: int) -> None:
    with pytest.raises(KafkaUnavailable) as caught:
        await kafka.broker_count(kafka.ClientConfig(f"127.0.0.1:{unused_tcp_port}"))
    assert caught.value.retriable
    assert caught.value.reason == "kafka_unavailable"
