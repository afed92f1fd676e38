"""The core path on real Kafka and PostgreSQL: send, verify, route, register, receipts."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tests.documents import document
from tests.e2e.conftest import CLOSED_DISTRICT, COMMUNE_A, COMMUNE_B, DEPARTMENT, PROVINCE, Exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


async def _registered(exchange: Exchange, unit: str, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch(
        "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2", unit, message_id
    )


async def test_province_to_two_communes_registers_and_acknowledges(exchange: Exchange) -> None:
    body, number = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A, COMMUNE_B])
    assert number == 1
    for commune in (COMMUNE_A, COMMUNE_B):
        rows = await exchange.until(
            functools.partial(_registered, exchange, commune, body.message_id),
            what=f"{commune} register",
        )
        assert rows[0]["number"] == 1
        assert rows[0]["sender"] == PROVINCE
        assert rows[0]["document_id"] == "000.00.00.H62,2026/11/20,125/UBND-VP"
        assert rows[0]["subject"] == "V/v triển khai liên thông văn bản điện tử 4 cấp"
    receipts = await exchange.until(
        lambda: _statuses(exchange, body.message_id, 2), what="two 01 receipts"
    )
    assert {(r["recipient"], r["status_code"]) for r in receipts} == {
        (COMMUNE_A, "01"),
        (COMMUNE_B, "01"),
    }
    ledger = await exchange.until(
        lambda: _ledger_states(exchange, body.message_id, "01"), what="ledger 01"
    )
    assert ledger == {COMMUNE_A: "01", COMMUNE_B: "01"}


async def _statuses(exchange: Exchange, message_id: str, at_least: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch("SELECT * FROM outgoing_status WHERE message_id = $1", message_id)
    return rows if len(rows) >= at_least else []


async def _ledger_states(exchange: Exchange, message_id: str, state: str) -> dict[str, str]:
    rows = await exchange.fetch(
        "SELECT recipient, state FROM deliveries WHERE message_id = $1", message_id
    )
    states = {r["recipient"]: r["state"] for r in rows}
    return states if states and all(s == state for s in states.values()) else {}


async def test_numbers_are_consecutive_per_unit(exchange: Exchange) -> None:
    sent = [
        await exchange.connector.send(DEPARTMENT, document(DEPARTMENT, [COMMUNE_A]), [COMMUNE_A])
        for _ in range(5)
    ]
    assert [number for _, number in sent] == [1, 2, 3, 4, 5]
    rows = await exchange.until(
        lambda: _all_registered(exchange, COMMUNE_A, 5), what="five registrations"
    )
    assert sorted(r["number"] for r in rows) == [1, 2, 3, 4, 5]


async def _all_registered(exchange: Exchange, unit: str, count: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch("SELECT * FROM incoming_register WHERE unit = $1", unit)
    return rows if len(rows) >= count else []


async def test_a_closed_district_is_redirected_and_the_sender_told(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [CLOSED_DISTRICT]), [CLOSED_DISTRICT]
    )
    rows = await exchange.until(
        lambda: _registered(exchange, COMMUNE_A, body.message_id), what="redirect"
    )
    assert rows[0]["redirected_from"] == CLOSED_DISTRICT
    notice = await exchange.until(lambda: _statuses(exchange, body.message_id, 2), what="notices")
    codes = {(r["recipient"], r["status_code"], r["reason_code"]) for r in notice}
    assert (exchange.settings.router_id, "00", "unit_redirected") in codes
    assert (COMMUNE_A, "01", None) in codes
    deliveries = await exchange.fetch(
        "SELECT * FROM deliveries WHERE message_id = $1", body.message_id
    )
    assert [(d["recipient"], d["delivered_to"]) for d in deliveries] == [
        (CLOSED_DISTRICT, COMMUNE_A)
    ]


async def test_status_replies_travel_back_to_the_sender(exchange: Exchange) -> None:
    body, _ = await exchange.connector.send(COMMUNE_A, document(COMMUNE_A, [PROVINCE]), [PROVINCE])
    await exchange.until(lambda: _registered(exchange, PROVINCE, body.message_id), what="register")
    for code in ("03", "05", "06"):
        await exchange.connector.post_status(PROVINCE, body.message_id, code)
    rows = await exchange.until(lambda: _statuses(exchange, body.message_id, 4), what="statuses")
    assert sorted(r["status_code"] for r in rows) == ["01", "03", "05", "06"]
    await exchange.until(lambda: _ledger_states(exchange, body.message_id, "06"), what="ledger 06")
    timeline = await exchange.fetch(
        "SELECT state FROM delivery_events WHERE message_id = $1 ORDER BY at, id", body.message_id
    )
    assert [t["state"] for t in timeline] == ["routed", "01", "03", "05", "06"]
