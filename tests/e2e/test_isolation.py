"""No record can stop the router: a record that makes a stage fail unexpectedly becomes that
record's dead letter (internal_error, the exception's type and message), the batch goes on,
and the next honest document is delivered. A dead letter never exceeds its topic's limit."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from connectors import packing
from kernel import metrics
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from schemas import codec
from schemas.envelope import DeadLetter, from_record
from tests.documents import DOCUMENT
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange, exchange_with

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _publish(
    exchange: Exchange, value: bytes, key: bytes, headers: list[tuple[str, Any]]
) -> None:
    await exchange.connector.producer(PROVINCE).send_and_wait(
        exchange.topics.submit, value, key=key, headers=headers
    )


async def _letters(exchange: Exchange, count: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch(
        "SELECT stage, reason_code, reason, sender, length(original) AS size FROM dead_letters"
        " ORDER BY id"
    )
    return rows if len(rows) >= count else []


async def _honest_flow_still_works(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await exchange.until(
        functools.partial(
            exchange.fetch,
            "SELECT 1 FROM incoming_register WHERE unit = $1 AND message_id = $2",
            COMMUNE_A, body.message_id,
        ),
        what="the next honest document registered",
    )  # fmt: skip


async def test_records_that_break_a_stage_are_dead_lettered_and_the_router_goes_on(
    exchange: Exchange,
) -> None:
    signed = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    headers, value = exchange.connector.identities[PROVINCE].seal(
        exchange.connector.registry, signed
    )
    # A schema header with a null value, and a key with a NUL byte PostgreSQL cannot store.
    await _publish(exchange, value, PROVINCE.encode(), [(codec.FINGERPRINT_HEADER, None)])
    await _publish(exchange, b"\x00garbage", b"\x00" + PROVINCE.encode(), headers)
    rows = await exchange.until(lambda: _letters(exchange, 2), what="two dead letters")
    letters = {row["stage"]: row for row in rows}  # two keys, two lanes: either may be first
    assert letters["internal"]["reason_code"] == "internal_error"
    assert letters["internal"]["reason"].startswith("AttributeError: ")
    assert "Traceback" not in letters["internal"]["reason"]
    assert letters["decode"]["reason_code"].startswith("envelope_")
    assert letters["decode"]["sender"] == "\ufffd" + PROVINCE
    await _honest_flow_still_works(exchange)


async def test_a_dead_letter_too_large_for_its_topic_keeps_the_original_in_the_ledger(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    limit = 256 * 1024
    async with exchange_with(settings, services, tmp_path, max_message_bytes=limit) as exchange:
        original = b"\xff" * (200 * 1024)
        headers = [(f"x-{i}", b"h" * 1024) for i in range(40)]
        await _publish(exchange, original, PROVINCE.encode(), headers)
        letters = await exchange.until(lambda: _letters(exchange, 1), what="a dead letter")
        assert letters[0]["size"] == len(original)
        consumer = AIOKafkaConsumer(**exchange.endpoints.kafka.aiokafka())
        await consumer.start()
        try:
            partition = TopicPartition(exchange.topics.deadletter, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            records = (await consumer.getmany(partition, timeout_ms=5000)).get(partition, [])
        finally:
            await consumer.stop()
        assert records, "the dead letter is on its topic"
        fingerprint = codec.fingerprint_from(list(records[0].headers))
        letter: DeadLetter = from_record(
            DeadLetter,
            exchange.router.registry.decode(fingerprint, records[0].value, "DeadLetter"),
        )
        assert letter.original == b""
        assert "kept whole in the ledger" in letter.reason
        await _honest_flow_still_works(exchange)


async def test_a_record_that_breaks_the_connector_is_quarantined_and_the_unit_goes_on(
    exchange: Exchange,
) -> None:
    """Endorsed with the router's key (as a router defect would let through), with a null
    schema header the connector's decoding trips on: quarantined as internal_error."""
    signed = packing.build_body(DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A])
    _, value = exchange.connector.identities[PROVINCE].seal(exchange.connector.registry, signed)
    headers = [
        (codec.FINGERPRINT_HEADER, None),
        exchange.router_endorsement(value, signed.message_id, COMMUNE_A),
    ]
    await exchange.router.producer.send_and_wait(
        exchange.topics.unit(COMMUNE_A), value, key=signed.message_id.encode(), headers=headers
    )
    kept = await exchange.until(
        functools.partial(exchange.fetch, "SELECT reason_code, reason FROM incoming_quarantine"),
        what="the record quarantined",
    )
    assert kept[0]["reason_code"] == "internal_error"
    assert kept[0]["reason"].startswith("AttributeError: ")
    await _honest_flow_still_works(exchange)


class _NotUtf8(str):
    """A header key that encodes to bytes no UTF-8 decoder takes: what a crafted producer
    puts on the wire, which aiokafka's consumer cannot decode."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe" + str(self).encode(encoding, errors)


def _undecodable_skipped() -> float:
    return sum(
        sample.value
        for metric in metrics.INTERNAL_ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["error_type"] == "UnicodeDecodeError"
    )


async def test_a_record_aiokafka_cannot_decode_is_stepped_over(exchange: Exchange) -> None:
    """A header key that is not UTF-8 made every fetch of the submit topic raise: the router
    stopped for good, for every unit. It is skipped, counted and logged with its offset."""
    before = _undecodable_skipped()
    producer = AIOKafkaProducer(
        **exchange.endpoints.kafka.aiokafka(), acks=1, enable_idempotence=False
    )
    await producer.start()
    try:
        batch = producer.create_batch()
        batch._builder = _DefaultRecordBatchBuilderPy(
            2, 0, is_transactional=0, producer_id=-1, producer_epoch=-1, base_sequence=0,
            batch_size=16384,
        )  # fmt: skip
        batch.append(timestamp=None, key=b"k", value=b"poison", headers=[(_NotUtf8("x"), b"")])
        batch.append(timestamp=None, key=b"k", value=b"same batch", headers=[])
        await (await producer.send_batch(batch, exchange.topics.submit, partition=0))
    finally:
        await producer.stop()

    async def skipped() -> bool:
        return _undecodable_skipped() > before

    await exchange.until(skipped, what="the undecodable record skipped")
    await _honest_flow_still_works(exchange)
