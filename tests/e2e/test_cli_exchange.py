"""The exchange's commands as operators run them, against a running router and connector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lienthong.samples import minimal_pdf
from tests.documents import document
from tests.e2e.conftest import CLOSED_DISTRICT, COMMUNE_A, PROVINCE, Exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = FIXTURES / "edxml" / "document.edxml"


async def cli(exchange: Exchange, *args: str) -> tuple[int, str, str]:
    return await exchange.cli(*args)


async def _json(exchange: Exchange, *args: str) -> Any:
    code, out, err = await cli(exchange, *args)
    assert code == 0, err
    return json.loads(out)


async def test_send_inbox_status_and_ledger_from_the_command_line(
    exchange: Exchange, tmp_path: Path
) -> None:
    pdf = tmp_path / "cong-van.pdf"
    pdf.write_bytes(minimal_pdf())
    packet = tmp_path / "cong-van.edxml"
    packet.write_bytes(document(PROVINCE, [COMMUNE_A, CLOSED_DISTRICT]))
    code, out, err = await cli(
        exchange, "send", "--from", PROVINCE, "--to", COMMUNE_A, CLOSED_DISTRICT,
        "--edxml", str(packet), "--attach", str(pdf),
    )  # fmt: skip
    assert code == 0, err
    message_id = out.strip()
    # A recipient the directory does not know: refused before a number is taken.
    unknown = tmp_path / "to-nobody.edxml"
    unknown.write_bytes(document(PROVINCE, ["000.99.99.H62"]))
    code, _, err = await cli(
        exchange, "send", "--from", PROVINCE, "--to", "000.99.99.H62", "--edxml", str(unknown)
    )
    assert code != 0
    assert "unit_unknown" in err
    numbers = await exchange.fetch("SELECT number FROM outgoing_register WHERE unit = $1", PROVINCE)
    assert [row["number"] for row in numbers] == [1]

    async def inbox() -> list[Any]:
        entries: list[Any] = await _json(exchange, "inbox", "list", "--unit", COMMUNE_A, "--json")
        return [e for e in entries if e["message_id"] == message_id]

    entries = await exchange.until(inbox, what="the commune's inbox", timeout=60)
    assert entries[0]["sender"] == PROVINCE
    posted = await _json(
        exchange, "status", "post", "--unit", COMMUNE_A, "--message", message_id, "--code", "05"
    )
    assert posted["code"] == "05"

    async def ledger() -> Any:
        shown = await _json(exchange, "ledger", "show", message_id, "--json")
        states = {r["recipient"]: r["state"] for r in shown["recipients"]}
        return shown if states.get(COMMUNE_A) == "05" else None

    shown = await exchange.until(ledger, what="05 in the ledger", timeout=60)
    by_recipient = {r["recipient"]: r for r in shown["recipients"]}
    assert by_recipient[CLOSED_DISTRICT]["delivered_to"] == COMMUNE_A
    assert [e["state"] for e in by_recipient[CLOSED_DISTRICT]["timeline"]][:2] == [
        "redirected",
        "routed",
    ]
    assert [e["state"] for e in by_recipient[COMMUNE_A]["timeline"]] == ["routed", "01", "05"]
    scans = {s["attachment"]: s["verdict"] for s in shown["malware_scans"]}
    assert scans["cong-van.pdf"] == "clean"
    assert {(p["rule_id"], p["reason_code"]) for p in shown["policy"]} >= {
        ("A3.4-pdf-signed", "pdf_unsigned")
    }

    code, _, err = await cli(exchange, "status", "post", "--unit", COMMUNE_A,
                             "--message", message_id, "--code", "02")  # fmt: skip
    assert code == 2
    assert "[edxml_invalid_value]" in err
    assert "reason" in err


async def test_replay_commands(exchange: Exchange) -> None:
    await exchange.connector.producer(PROVINCE).send_and_wait(
        exchange.topics.submit, b"garbage", key=PROVINCE.encode()
    )

    async def letters() -> list[Any]:
        found: list[Any] = await _json(exchange, "replay", "list", "--reason",
                                       "envelope_malformed", "--json")  # fmt: skip
        return found

    listed = await exchange.until(letters, what="the dead letter listed", timeout=60)
    letter_id = str(listed[0]["id"])
    assert listed[0]["sender"] == PROVINCE
    done = await _json(exchange, "replay", "run", letter_id, "--why", "kiểm tra", "--actor", "qtv")
    assert done == [{"id": int(letter_id), "replayed": True, "message_id": None}]
    shown = await _json(exchange, "replay", "show", letter_id)
    assert shown["replay_count"] == 1
    assert shown["replays"][0]["actor"] == "qtv"
    code, _, err = await cli(exchange, "replay", "run", letter_id)
    assert code == 2
    assert "--why" in err


async def test_router_health_and_topics_sync(exchange: Exchange) -> None:
    health = await _json(exchange, "router", "health")
    assert health["group"] == exchange.topics.router_group
    assert health["members"] == 1
    assert health["healthy"]
    synced = await _json(exchange, "topics", "sync", "--batch", "7")
    assert synced["created"] == 0  # the fixture made them all already
    assert synced["topics"] == 24 + 3  # submit, its urgent lane, dead letters
    assert synced["under_replicated"] == []  # one broker: one replica is all it asks


async def test_revoke_update_and_the_registers_from_the_command_line(
    exchange: Exchange, tmp_path: Path
) -> None:
    body, _ = await exchange.connector.send(PROVINCE, DOCUMENT.read_bytes(), [COMMUNE_A])
    await exchange.until(lambda: _in_inbox(exchange, body.document_id, 1), what="original")

    revoked = await _json(exchange, "revoke", "--from", PROVINCE, "--message", body.message_id,
                          "--reason", "ban hành nhầm")  # fmt: skip
    assert revoked["kind"] == "revoke"
    fields = tmp_path / "fields.yaml"
    fields.write_text("subject: Công văn đã sửa\ntype_name: Công văn\n", encoding="utf-8")
    updated = await _json(exchange, "update", "--from", PROVINCE, "--message", body.message_id,
                          "--reason", "sửa lỗi chính tả", "--fields", str(fields))  # fmt: skip
    assert updated["kind"] == "update"

    entries = await exchange.until(lambda: _in_inbox(exchange, body.document_id, 3), what="all 3")
    assert [e["kind"] for e in entries] == ["document", "revoke", "update"]
    shown = await _json(
        exchange, "inbox", "show", "--unit", COMMUNE_A, "--message", revoked["message_id"]
    )
    assert "<edXML:BussinessDocType>1</edXML:BussinessDocType>" in shown["edxml"]
    assert "ban hành nhầm" in shown["edxml"]

    async def answered() -> Any:
        state = await _json(
            exchange, "sent", "show", "--unit", PROVINCE, "--message", body.message_id
        )
        return state if state["statuses"] else None

    state = await exchange.until(answered, what="the 01 at the sender", timeout=60)
    assert state["number"] == 1
    assert [(s["recipient"], s["status_code"]) for s in state["statuses"]] == [(COMMUNE_A, "01")]
    code, _, err = await cli(exchange, "update", "--from", PROVINCE, "--message", "nope",
                             "--reason", "x", "--fields", str(fields))  # fmt: skip
    assert code == 2
    assert "[unit_unknown]" in err


async def _in_inbox(exchange: Exchange, document_id: str | None, count: int) -> list[Any]:
    entries: list[Any] = await _json(exchange, "inbox", "list", "--unit", COMMUNE_A, "--json")
    mine = [e for e in entries if e["document_id"] == document_id]
    return mine if len(mine) >= count else []
