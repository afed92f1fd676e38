"""The router judges a batch at once, yet records of one batch that depend on each other
are judged in order: a revoke right behind its document, statuses about one delivery, the
same envelope twice. Urgent documents take a lane of their own and overtake a backlog."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from connectors import registers
from schemas import edxml
from schemas.edxml.model import OtherInfo
from tests.documents import DOCUMENT, document
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _normal(sender: str, to: list[str]) -> bytes:
    """A document of normal priority (the fixture's is khẩn)."""
    packet = edxml.parse(document(sender, to))
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(dataclasses.replace(packet, other_info=OtherInfo(priority=0)))


async def _registered(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch(
        "SELECT number FROM incoming_register WHERE unit = $1 AND message_id = $2",
        COMMUNE_A, message_id,
    )  # fmt: skip


async def _verdicts(exchange: Exchange, *message_ids: str) -> dict[str, str]:
    rows = await exchange.fetch(
        "SELECT message_id, verdict, source FROM messages WHERE message_id = ANY($1::text[])"
        " AND verdict <> 'routing'",
        list(message_ids),
    )
    verdicts = {r["message_id"]: r["verdict"] for r in rows}
    return verdicts if len(verdicts) == len(message_ids) else {}


async def test_an_urgent_document_overtakes_a_backlog(exchange: Exchange) -> None:
    async with exchange.router_held_back(urgent=False):
        normal, _ = await exchange.connector.send(
            PROVINCE, _normal(PROVINCE, [COMMUNE_A]), [COMMUNE_A]
        )
        urgent, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
        await exchange.until(
            functools.partial(_registered, exchange, urgent.message_id), what="the urgent one"
        )
        assert await _registered(exchange, normal.message_id) == []
        assert (
            await exchange.fetch("SELECT 1 FROM messages WHERE message_id = $1", normal.message_id)
            == []
        ), "the normal document waits on the submit topic"
    await exchange.until(
        functools.partial(_registered, exchange, normal.message_id), what="the normal one"
    )
    sources = {
        r["message_id"]: r["source"].rsplit("/", 1)[0]
        for r in await exchange.fetch(
            "SELECT message_id, source FROM messages WHERE kind <> 'status'"
        )
    }
    assert sources == {
        urgent.message_id: exchange.topics.submit_urgent,
        normal.message_id: exchange.topics.submit,
    }


async def test_a_revoke_right_behind_its_document_in_one_batch(exchange: Exchange) -> None:
    """The revoke follows its document on the document's lane, and is judged after it."""
    async with exchange.router_held_back():
        body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
        revoke, _ = await exchange.connector.follow_up(
            PROVINCE, body.message_id, "revoke", reason="Ban hành nhầm"
        )
    verdicts = await exchange.until(
        functools.partial(_verdicts, exchange, body.message_id, revoke.message_id),
        what="both verdicts",
    )
    assert verdicts == {body.message_id: "routed", revoke.message_id: "routed"}


async def test_statuses_about_one_delivery_in_one_batch_move_it_in_order(
    exchange: Exchange,
) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await exchange.until(functools.partial(_registered, exchange, body.message_id), what="01")

    async def delivered_state() -> str | None:
        rows = await exchange.fetch(
            "SELECT state FROM deliveries WHERE message_id = $1", body.message_id
        )
        return rows[0]["state"] if rows and rows[0]["state"] != "routed" else None

    await exchange.until(delivered_state, what="the 01 in the ledger")
    async with exchange.router_held_back():
        for code in ("03", "05", "06"):
            await exchange.connector.post_status(COMMUNE_A, body.message_id, code)

    async def done() -> bool:
        return await delivered_state() == "06"

    await exchange.until(done, what="the delivery at 06")
    events = await exchange.fetch(
        "SELECT state FROM delivery_events WHERE message_id = $1 AND reason_code IS NULL",
        body.message_id,
    )
    assert {"03", "05", "06"} <= {e["state"] for e in events}


async def test_the_same_envelope_twice_in_one_batch_is_routed_once(exchange: Exchange) -> None:
    async with exchange.router_held_back():
        body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
        row = (
            await exchange.fetch(
                "SELECT topic, key, value, headers FROM outbox WHERE message_id = $1",
                body.message_id,
            )
        )[0]
        await exchange.connector.producer(PROVINCE).send_and_wait(
            row["topic"], row["value"], key=row["key"], headers=registers.headers_of(row["headers"])
        )
    await exchange.until(
        functools.partial(_registered, exchange, body.message_id), what="the registration"
    )
    copies = [
        r for r in await exchange.records(exchange.topics.unit(COMMUNE_A))
        if r.key == body.message_id.encode()
    ]  # fmt: skip
    assert len(copies) == 1, "one copy delivered, the repeat judged a duplicate"
    assert await _registered(exchange, body.message_id) == [{"number": 1}]
