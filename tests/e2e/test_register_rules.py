"""Issue 13's register rules on a real exchange: the register number of a document sent
without one becomes its number (and its DocumentId), and a revoke marks the entry of the
document it revokes at each receiver, whose own answer (01) stays as it was."""

from __future__ import annotations

import dataclasses
import datetime
import functools
from typing import Any

import pytest

from connectors.registers import VIETNAM
from schemas import edxml
from schemas.edxml.model import Code
from schemas.envelope import EnvelopeBody
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _entry(exchange: Exchange, unit: str, message_id: str) -> dict[str, Any]:
    """The entry, or an empty (falsy) dict while there is none."""
    rows = await exchange.fetch(
        "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2", unit, message_id
    )
    return rows[0] if rows else {}


async def _revoked(exchange: Exchange, unit: str, message_id: str) -> dict[str, Any]:
    entry = await _entry(exchange, unit, message_id)
    return entry if entry and entry["revoked_at"] is not None else {}


async def _revoke(exchange: Exchange, original: EnvelopeBody) -> EnvelopeBody:
    revoke, _ = await exchange.connector.follow_up(
        PROVINCE, original.message_id, "revoke", reason="Ban hành nhầm đối tượng"
    )
    assert (revoke.kind, revoke.document_id) == ("revoke", original.document_id)
    return revoke


async def test_a_revoke_marks_the_original_entry(exchange: Exchange) -> None:
    to = [COMMUNE_A, COMMUNE_B]
    sent, _ = await exchange.connector.send(PROVINCE, document(PROVINCE, to), to)
    for unit in to:
        entry = await exchange.until(functools.partial(_entry, exchange, unit, sent.message_id))
        assert (entry["code_number"], entry["code_notation"], entry["author"]) == (
            "125",
            "UBND-VP",
            "UBND tỉnh Vĩnh Long",
        )
    revoke = await _revoke(exchange, sent)
    for unit in to:
        original = await exchange.until(
            functools.partial(_revoked, exchange, unit, sent.message_id), what=f"{unit} marks it"
        )
        assert original["revoked_at"] == revoke.created_at
        assert original["status"] == "01"
        entry = await exchange.until(functools.partial(_entry, exchange, unit, revoke.message_id))
        assert (entry["kind"], entry["revoked_at"]) == ("revoke", None)


async def test_a_document_sent_without_a_number_takes_the_register_number(
    exchange: Exchange,
) -> None:
    connector = exchange.connector
    packet = edxml.parse(document(PROVINCE, [COMMUNE_A]))
    assert isinstance(packet, edxml.DocumentPacket)
    unnumbered = edxml.write(
        dataclasses.replace(packet, code=Code(None, "UBND-VP"), document_id=None)
    )
    sent, number = await connector.send(PROVINCE, unnumbered, [COMMUNE_A])
    day = packet.promulgation_info.promulgation_date if packet.promulgation_info else None
    assert isinstance(day, datetime.date)
    document_id = f"{PROVINCE},{day:%Y/%m/%d},{number}/UBND-VP"
    assert sent.document_id == document_id
    assert sent.created_at.astimezone(VIETNAM).year == datetime.datetime.now(VIETNAM).year

    entry = await exchange.until(
        lambda: _entry(exchange, COMMUNE_A, sent.message_id), what="registered"
    )
    assert (entry["document_id"], entry["code_number"]) == (document_id, str(number))
    received = edxml.parse(bytes(entry["edxml"]))
    assert isinstance(received, edxml.DocumentPacket)
    assert received.code == Code(str(number), "UBND-VP")

    # Named by that DocumentId, the document can now be revoked at its receiver.
    await _revoke(exchange, sent)
    await exchange.until(
        lambda: _revoked(exchange, COMMUNE_A, sent.message_id), what="the revoke marks it"
    )
