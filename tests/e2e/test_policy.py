"""The policy stage on the real exchange: a secret refused with the rule's reason, a
sensitive document held, released by one operator and refused by another."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from broker import replay, review
from connectors import packing
from kernel import database
from kernel.errors import KafkaUnavailable
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack.stack import Endpoints
from lienthong.samples import minimal_pdf
from signing.identity import Identity
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange, exchange_with_policy

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _document(subject: str, sender: str = PROVINCE, to: str = COMMUNE_A) -> bytes:
    return packing.edxml_from_fields(sender, {"subject": subject, "type_name": "Công văn"}, [to])


async def _rows(exchange: Exchange, query: str, *args: Any) -> list[dict[str, Any]]:
    return await exchange.fetch(query, *args)


async def test_a_secret_is_refused_with_the_rules_reason(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(PROVINCE, _document("Kế hoạch TUYỆT MẬT"), [COMMUNE_A])
    refusal = await exchange.refusals(body.message_id)
    assert refusal[0]["reason_code"] == "policy_secret_mark"
    assert "A4.1-secret-grade" in refusal[0]["description"]
    assert "Điều 4.1" in refusal[0]["description"]
    decisions = await exchange.fetch(
        "SELECT rule_id, action FROM policy_decisions WHERE message_id = $1", body.message_id
    )
    assert decisions == [{"rule_id": "A4.1-secret-grade", "action": "reject"}]
    assert not await exchange.fetch(
        "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id
    )


async def test_held_documents_wait_for_an_operator(exchange: Exchange) -> None:
    kept, _ = await exchange.connector.send(
        PROVINCE, _document("V/v hoạt động tôn giáo"), [COMMUNE_A]
    )
    dropped, _ = await exchange.connector.send(PROVINCE, _document("Tin về phản động"), [COMMUNE_A])
    held = await exchange.until(
        functools.partial(_rows, exchange, "SELECT message_id FROM held WHERE state = 'held'"),
        what="two held",
    )
    await exchange.until(
        lambda: _at_least(exchange, "SELECT count(*) AS n FROM held", 2), what="both"
    )
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        listed = await review.list_held(conn)
        assert {r["message_id"] for r in listed} == {kept.message_id, dropped.message_id}
        assert {r["rules"][0]["rule"] for r in listed} == {"A4.3-religion", "A4.4-harmful"}
        submitter = exchange.connector.producer(PROVINCE)
        await review.release(conn, submitter, exchange.topics, kept.message_id,
                             actor="qtv.stttt", why="nội dung hành chính thông thường")  # fmt: skip
        router = Identity.load(exchange.pki_dir / "router", exchange.settings.router_id)
        await review.refuse(conn, exchange.router.producer, exchange.topics,
                            exchange.connector.registry, router, dropped.message_id,
                            actor="qtv.stttt", why="cần xác minh")  # fmt: skip
        with pytest.raises(Exception, match="waiting for review"):
            await review.release(conn, exchange.connector.producer(PROVINCE), exchange.topics,
                                 kept.message_id, actor="x", why="again")  # fmt: skip
    finally:
        await conn.close()
    registered = await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT * FROM incoming_register WHERE message_id = $1",
            kept.message_id,
        ),
        what="the released one delivered",
    )
    assert registered[0]["unit"] == COMMUNE_A
    refusal = await exchange.refusals(dropped.message_id)
    assert "cần xác minh" in refusal[0]["description"]
    audit = await exchange.fetch("SELECT action FROM audit WHERE actor = 'qtv.stttt' ORDER BY id")
    assert [a["action"] for a in audit] == ["review-released", "review-rejected"]
    assert held


async def test_a_release_that_cannot_be_published_waits_again(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(
        PROVINCE, _document("Về quản lý hoạt động tôn giáo"), [COMMUNE_A]
    )
    await exchange.until(
        functools.partial(_rows, exchange, "SELECT 1 FROM held WHERE message_id = $1",
                          body.message_id),
        what="held",
    )  # fmt: skip
    # A submit topic that does not exist: the produce fails after the decision is committed.
    nowhere = Topics(f"missing{uuid.uuid4().hex[:8]}.")
    impatient = AIOKafkaProducer(**exchange.endpoints.kafka.aiokafka(), request_timeout_ms=2000)
    await impatient.start()
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    why = "thủ tục thông thường"
    try:
        with pytest.raises(KafkaUnavailable):
            await review.release(conn, impatient, nowhere, body.message_id, actor="a", why=why)
        assert [r["message_id"] for r in await review.list_held(conn)] == [body.message_id]
        producer = exchange.connector.producer(PROVINCE)
        await review.release(conn, producer, exchange.topics, body.message_id, actor="a", why=why)
    finally:
        await impatient.stop()
        await conn.close()
    assert await exchange.until(
        functools.partial(_rows, exchange,
                          "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id),
        what="delivered after the second release",
    )  # fmt: skip


async def test_released_and_replayed_records_go_back_on_their_own_lane(
    exchange: Exchange,
) -> None:
    """An urgent document held and released goes back on the urgent lane, not behind the
    backlog on `submit`; a dead letter that came in on the urgent lane is replayed there.
    A dead letter's topic is the router's own record, but whatever it names, nothing is
    republished outside the two lanes (kernel.topics.back_to)."""
    urgent = packing.edxml_from_fields(
        PROVINCE, {"subject": "V/v hoạt động tôn giáo", "type_name": "Công văn", "priority": 2},
        [COMMUNE_A],
    )  # fmt: skip
    body, _ = await exchange.connector.send(PROVINCE, urgent, [COMMUNE_A])
    held = await exchange.until(
        functools.partial(_rows, exchange, "SELECT topic FROM held WHERE message_id = $1",
                          body.message_id),
        what="held",
    )  # fmt: skip
    assert held == [{"topic": exchange.topics.submit_urgent}]
    producer = exchange.connector.producer(PROVINCE)
    await producer.send_and_wait(exchange.topics.submit_urgent, b"\x00not an envelope",
                                 key=PROVINCE.encode())  # fmt: skip
    first = await exchange.until(
        functools.partial(_rows, exchange, "SELECT id, topic FROM dead_letters"
                          " WHERE original = '\\x006e6f7420616e20656e76656c6f7065'::bytea"),
        what="the crafted record dead-lettered",
    )  # fmt: skip
    assert first[0]["topic"] == exchange.topics.submit_urgent
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        await review.release(conn, producer, exchange.topics, body.message_id,
                             actor="qtv.stttt", why="nội dung hành chính thông thường")  # fmt: skip
        done = await replay.run(conn, producer, exchange.topics, [first[0]["id"]],
                                actor="qtv.stttt", why="thử lại")  # fmt: skip
        assert done[0]["replayed"]
        await conn.execute(
            "UPDATE dead_letters SET topic = 'elsewhere.unit.000.00.00.H07' WHERE id = $1",
            first[0]["id"],
        )
        await replay.run(conn, producer, exchange.topics, [first[0]["id"]],
                         actor="qtv.stttt", why="thử lại lần nữa")  # fmt: skip
    finally:
        await conn.close()
    routed = await exchange.until(
        functools.partial(_rows, exchange, "SELECT source FROM messages"
                          " WHERE message_id = $1 AND verdict = 'routed'", body.message_id),
        what="the released one routed",
    )  # fmt: skip
    assert routed[0]["source"].rsplit("/", 1)[0] == exchange.topics.submit_urgent
    again = await exchange.until(
        lambda: _dead_letters_of(exchange, first[0]["id"], 2), what="both replays dead-lettered"
    )
    # Each lane has its own consumer: which replay comes back first is not fixed.
    assert sorted(r["topic"] for r in again) == sorted(
        [exchange.topics.submit_urgent, exchange.topics.submit]
    )


async def _dead_letters_of(exchange: Exchange, first: int, n: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch(
        "SELECT topic FROM dead_letters WHERE id > $1 AND original ="
        " (SELECT original FROM dead_letters WHERE id = $1) ORDER BY id",
        first,
    )
    return rows if len(rows) >= n else []


async def _at_least(exchange: Exchange, query: str, n: int) -> bool:
    rows = await exchange.fetch(query)
    return bool(rows[0]["n"] >= n)


async def test_paper_copy_required_reaches_the_receiver(exchange: Exchange) -> None:
    document = packing.edxml_from_fields(
        PROVINCE,
        {"subject": "Giao dự toán ngân sách nhà nước năm 2027", "type_name": "Quyết định"},
        [COMMUNE_A],
    )
    body, _ = await exchange.connector.send(PROVINCE, document, [COMMUNE_A])
    rows = await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT paper_copy_required FROM incoming_register WHERE message_id = $1",
            body.message_id,
        ),
        what="registered",
    )
    assert rows == [{"paper_copy_required": True}]
    deliveries = await exchange.fetch(
        "SELECT paper_copy_required FROM deliveries WHERE message_id = $1", body.message_id
    )
    assert deliveries == [{"paper_copy_required": True}]
    plain, _ = await exchange.connector.send(PROVINCE, _document("Lịch họp giao ban"), [COMMUNE_A])
    rows = await exchange.until(
        functools.partial(
            _rows,
            exchange,
            "SELECT paper_copy_required FROM incoming_register WHERE message_id = $1",
            plain.message_id,
        ),
        what="registered",
    )
    assert rows == [{"paper_copy_required": False}]


async def test_a_secret_mark_inside_a_pdf_is_refused(exchange: Exchange) -> None:
    stamped = packing.attachment_of(
        "phu-luc.pdf", "application/pdf", minimal_pdf("Phu luc TUYET MAT")
    )
    body, _ = await exchange.connector.send(
        PROVINCE, _document("Kế hoạch công tác năm"), [COMMUNE_A], [stamped]
    )
    refusal = await exchange.refusals(body.message_id)
    assert refusal[0]["reason_code"] == "policy_secret_mark"
    assert "attachment_text" in refusal[0]["description"]


async def test_legacy_font_text_is_refused_with_the_converted_text(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(
        PROVINCE, _document("C«ng v¨n vÒ viÖc triÓn khai"), [COMMUNE_A]
    )
    refusal = await exchange.refusals(body.message_id)
    assert refusal[0]["reason_code"] == "text_not_unicode"
    assert "Công văn về việc triển khai" in refusal[0]["description"]


LEVELLED = """version: 1
rules:
  - {id: land-from-communes, article: "Đ4.3", reason: policy_sensitive, action: hold,
     looks_at: [subject], terms: [đất đai], sender_levels: [commune]}
"""


async def test_a_rule_limited_to_communes_holds_only_what_communes_send(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with_policy(settings, services, tmp_path, LEVELLED) as exchange:
        subject = "Báo cáo tranh chấp đất đai"
        from_commune, _ = await exchange.connector.send(
            COMMUNE_A, _document(subject, COMMUNE_A, PROVINCE), [PROVINCE]
        )
        from_province, _ = await exchange.connector.send(PROVINCE, _document(subject), [COMMUNE_A])
        assert await exchange.until(
            functools.partial(_rows, exchange, "SELECT 1 FROM incoming_register"
                              " WHERE message_id = $1", from_province.message_id),
            what="the province's document delivered",
        )  # fmt: skip
        held = await exchange.until(
            functools.partial(_rows, exchange, "SELECT message_id FROM held"),
            what="the commune's document held",
        )  # fmt: skip
        assert held == [{"message_id": from_commune.message_id}]
