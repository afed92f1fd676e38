"""Hostile content is read off the event loop, under a budget: a PDF whose text takes
longer than the budget holds its document for review (attachment_too_complex), and other
senders' documents flow while it is being read."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from broker.service import PARSE_INLINE_BYTES
from connectors import packing
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from schemas import edxml
from tests.documents import DOCUMENT, document
from tests.e2e.conftest import COMMUNE_A, DEPARTMENT, PROVINCE, Exchange, exchange_with
from tests.hostile import slow_pdf

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _verdict(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch(
        "SELECT verdict FROM messages WHERE message_id = $1 AND verdict <> 'routing'", message_id
    )


async def _registered(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch("SELECT 1 FROM incoming_register WHERE message_id = $1", message_id)


async def test_a_pdf_over_the_budget_holds_its_document_for_review(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with(settings, services, tmp_path, job_seconds=1) as exchange:
        pdf = packing.attachment_of("bao-cao.pdf", "application/pdf", slow_pdf())
        body, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A], [pdf])
        verdict = await exchange.until(
            functools.partial(_verdict, exchange, body.message_id), what="the verdict"
        )
        assert verdict == [{"verdict": "held"}]
        decisions = await exchange.fetch(
            "SELECT reason_code, action FROM policy_decisions WHERE message_id = $1",
            body.message_id,
        )
        assert {"reason_code": "attachment_too_complex", "action": "hold"} in decisions
        assert await _registered(exchange, body.message_id) == []


async def test_other_senders_flow_while_a_costly_pdf_is_read(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    """The text takes seconds to read, within a generous budget: the router reads it in a
    worker process, so a document from another sender is delivered meanwhile."""
    async with exchange_with(settings, services, tmp_path, job_seconds=120) as exchange:
        async with exchange.router_held_back():  # both in the router's next batch
            pdf = packing.attachment_of("bao-cao.pdf", "application/pdf", slow_pdf())
            costly, _ = await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A], [pdf])
            honest, _ = await exchange.connector.send(
                DEPARTMENT, document(DEPARTMENT, [COMMUNE_A]), [COMMUNE_A]
            )
        await exchange.until(
            functools.partial(_registered, exchange, honest.message_id),
            what="the other sender's document",
        )
        assert await _verdict(exchange, costly.message_id) == [], "read before the other"
        # Still being read, and the router answers for itself (its group has a member).
        code, out, err = await exchange.cli("router", "health")
        assert (code, json.loads(out)["healthy"]) == (0, True), err
        assert await _verdict(exchange, costly.message_id) == [], "health asked mid-read"
        await exchange.until(
            functools.partial(_registered, exchange, costly.message_id),
            what="the costly document, once read",
            timeout=120,
        )


def _large(size: int) -> bytes:
    """A document whose edXML is larger than the router parses on its event loop."""
    packet = edxml.parse(document(PROVINCE, [COMMUNE_A]))
    assert isinstance(packet, edxml.DocumentPacket)
    words = "Báo cáo tình hình triển khai liên thông văn bản điện tử. " * (size // 50)
    return edxml.write(dataclasses.replace(packet, content=words))


async def test_a_large_edxml_is_parsed_in_the_workers(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with(settings, services, tmp_path) as exchange:
        data = _large(2 * PARSE_INLINE_BYTES)
        assert len(data) > PARSE_INLINE_BYTES
        body, _ = await exchange.connector.send(PROVINCE, data, [COMMUNE_A])
        await exchange.until(
            functools.partial(_registered, exchange, body.message_id), what="the registration"
        )


async def test_an_edxml_over_the_budget_holds_its_document(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with(settings, services, tmp_path, job_seconds=0.001) as exchange:
        body, _ = await exchange.connector.send(
            PROVINCE, _large(4 * PARSE_INLINE_BYTES), [COMMUNE_A]
        )
        verdict = await exchange.until(
            functools.partial(_verdict, exchange, body.message_id), what="the verdict"
        )
        assert verdict == [{"verdict": "held"}]
        decisions = await exchange.fetch(
            "SELECT reason_code, matched FROM policy_decisions WHERE message_id = $1",
            body.message_id,
        )
        assert [d["reason_code"] for d in decisions] == ["attachment_too_complex"]
        assert decisions[0]["matched"].startswith("edXML: parsing it")
