"""The connector's HTTP API over a real socket, against the whole exchange."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import io
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from connectors import api, packing
from lienthong.samples import minimal_pdf
from schemas import edxml
from schemas.edxml.model import OtherInfo
from schemas.envelope import status_id
from tests.documents import document
from tests.e2e.apiclient import bearer
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def _post(session: aiohttp.ClientSession, url: str, body: object) -> tuple[int, Any]:
    async with session.post(url, json=body) as response:
        return response.status, await response.json()


async def _registered(session: aiohttp.ClientSession, base: str, unit: str) -> list[Any]:
    status, page = await _get(session, f"{base}/units/{unit}/inbox")
    return page["entries"] if status == 200 and page["entries"] else []


async def _answered(
    session: aiohttp.ClientSession, base: str, message_id: str, codes: set[str]
) -> Any:
    _, state = await _get(session, f"{base}/units/{PROVINCE}/documents/{message_id}")
    return state if {s["status_code"] for s in state["statuses"]} >= codes else None


async def test_send_receive_and_answer_over_http(exchange: Exchange) -> None:
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        base = f"http://127.0.0.1:{port}"
        status, spec = await _get(s, f"{base}/openapi.json")
        assert status == 200
        assert "/units/{unit}/documents" in spec["paths"]

        note = "Kính gửi".encode()
        status, sent = await _post(
            s,
            f"{base}/units/{PROVINCE}/documents",
            {
                "to": [COMMUNE_A],
                "edxml": base64.b64encode(DOCUMENT).decode(),
                "attachments": [{"name": "ghi-chu.txt", "media_type": "text/plain",
                                 "content": base64.b64encode(note).decode()}],
            },
        )  # fmt: skip
        assert status == 201, sent
        assert sent["number"] == 1

        entries = await exchange.until(
            functools.partial(_registered, s, base, COMMUNE_A), what="registered"
        )
        assert entries[0]["message_id"] == sent["message_id"]
        status, entry = await _get(s, f"{base}/units/{COMMUNE_A}/inbox/{sent['message_id']}")
        assert base64.b64decode(entry["edxml"]) == DOCUMENT

        status, answer = await _post(
            s, f"{base}/units/{COMMUNE_A}/inbox/{sent['message_id']}/status", {"code": "03"}
        )
        assert status == 201, answer
        state = await exchange.until(
            functools.partial(_answered, s, base, sent["message_id"], {"01", "03"}),
            what="01 and 03 at the sender",
        )
        assert {(x["recipient"], x["status_code"]) for x in state["statuses"]} == {
            (COMMUNE_A, "01"), (COMMUNE_A, "03"),
        }  # fmt: skip


DOCUMENTS = f"/units/{PROVINCE}/documents"
NOT_HOSTED = "000.00.99.H62"
XXE = base64.b64encode(b"<!DOCTYPE x [<!ENTITY a SYSTEM 'file:///'>]><x/>").decode()


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": "%%%"}, 422, "attachment_not_base64"),
        (DOCUMENTS, {"to": [], "edxml": ""}, 422, "organid_invalid"),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": XXE}, 422, "edxml_external_entity"),
        (f"/units/{NOT_HOSTED}/documents", {"to": [COMMUNE_A], "edxml": ""}, 403, "unit_forbidden"),
        (f"/units/{COMMUNE_A}/inbox/nope/status", {"code": "03"}, 404, "unit_unknown"),
        (f"/units/{COMMUNE_A}/inbox/nope/status", {"code": "01"}, 422, "edxml_invalid_value"),
        (f"{DOCUMENTS}/nope/revoke", {"reason": "nhầm"}, 404, "unit_unknown"),
        (f"{DOCUMENTS}/nope/revoke", {}, 422, "edxml_invalid_value"),
    ],
)
async def test_bad_requests_get_reason_codes(
    exchange: Exchange, path: str, body: object, status: int, reason: str
) -> None:
    headers = await bearer(exchange)
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=headers) as s,
    ):
        got, answer = await _post(s, f"http://127.0.0.1:{port}{path}", body)
    assert (got, answer["reason_code"]) == (status, reason)


async def _fetched(session: aiohttp.ClientSession, base: str, message_id: str) -> Any:
    status, entry = await _get(session, f"{base}/units/{COMMUNE_A}/inbox/{message_id}")
    return entry if status == 200 else None


async def test_fields_and_a_pdf_become_an_edxml_document(exchange: Exchange) -> None:
    pdf = minimal_pdf("Quyet dinh")
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        base = f"http://127.0.0.1:{port}"
        status, sent = await _post(
            s,
            f"{base}/units/{PROVINCE}/documents",
            {
                "to": [COMMUNE_A],
                "fields": {"subject": "Quyết định về việc giao chỉ tiêu", "type_name": "Quyết định",
                           "code_number": "77", "code_notation": "QĐ-UBND",
                           "promulgation_date": "2026-11-20", "signer_name": "Lê Văn Bình"},
                "attachments": [{"name": "qd-77.pdf", "media_type": "application/pdf",
                                 "content": base64.b64encode(pdf).decode()}],
            },
        )  # fmt: skip
        assert status == 201, sent
        assert sent["document_id"] == f"{PROVINCE},2026/11/20,77/QĐ-UBND"
        entry = await exchange.until(
            functools.partial(_fetched, s, base, sent["message_id"]), what="fetched"
        )
    assert entry["subject"] == "Quyết định về việc giao chỉ tiêu"
    assert (entry["code_number"], entry["code_notation"], entry["signer"]) == (
        "77", "QĐ-UBND", "Lê Văn Bình",
    )  # fmt: skip
    assert entry["promulgated_on"] == "2026-11-20"
    packet = edxml.parse(base64.b64decode(entry["edxml"]))
    assert isinstance(packet, edxml.DocumentPacket)
    assert packet.signer_info is not None
    assert packet.signer_info.full_name == "Lê Văn Bình"
    [attached] = entry["attachments"]
    assert (attached["name"], attached["size"]) == ("qd-77.pdf", len(pdf))
    assert base64.b64decode(attached["content"]) == pdf
    assert attached["sha256"] == hashlib.sha256(pdf).hexdigest()


async def test_fields_are_checked(exchange: Exchange) -> None:
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        url = f"http://127.0.0.1:{port}/units/{PROVINCE}/documents"
        for fields, message in (
            ({"type_name": "Công văn"}, "subject"),
            ({"subject": "x", "colour": "red"}, "unknown fields"),
            ({"subject": "x", "due_date": "20/11/2026"}, "YYYY-MM-DD"),
        ):
            status, answer = await _post(s, url, {"to": [COMMUNE_A], "fields": fields})
            assert (status, answer["reason_code"]) == (422, "edxml_invalid_value")
            assert message in answer["reason"]


@pytest.mark.parametrize("bypass_router", [False, True], ids=["via-router", "straight-to-unit"])
async def test_an_attachment_that_lies_about_its_hash_is_refused(
    exchange: Exchange, bypass_router: bool
) -> None:
    """The router refuses it; and a receiver does too if it arrives some other way."""
    good = packing.attachment_of("a.txt", "text/plain", b"noi dung that")
    lying = dataclasses.replace(good, content=b"noi dung khac")
    body = packing.build_body(
        DOCUMENT, sender=PROVINCE, recipients=[COMMUNE_A], attachments=[lying]
    )
    identity = exchange.connector.identities[PROVINCE]
    headers, value = identity.seal(exchange.connector.registry, body)
    # In the sender's outgoing register, as a document it sent (its statuses are heard only
    # about those), though published by hand so that the lie reaches the wire.
    await exchange.fetch(
        "INSERT INTO outgoing_register (unit, year, number, message_id, kind, recipients,"
        " created_at) VALUES ($1, 9999, 1, $2, 'document', $3, $4)",
        PROVINCE, body.message_id, [COMMUNE_A], body.created_at,
    )  # fmt: skip
    if bypass_router:
        # As if a router had let it through: endorsed with the router's key, written by the
        # admin; the receiver checks the attachments again all the same.
        headers.append(exchange.router_endorsement(value, body.message_id, COMMUNE_A))
        admin = AIOKafkaProducer(**exchange.endpoints.kafka.aiokafka())
        await admin.start()
        try:
            await admin.send_and_wait(
                exchange.topics.unit(COMMUNE_A), value, key=body.message_id.encode(),
                headers=headers,
            )  # fmt: skip
        finally:
            await admin.stop()
    else:
        await exchange.connector.producer(PROVINCE).send_and_wait(
            exchange.topics.submit, value, key=PROVINCE.encode(), headers=headers
        )
    if bypass_router:
        # The receiver refuses it (its 02 is queued with the reason); the router, which never
        # routed that document, does not pass a status about it on to anyone.
        answer = status_id(body.message_id, COMMUNE_A, "02")
        verdict = await exchange.until(
            lambda: exchange.fetch(
                "SELECT reason_code FROM messages WHERE message_id = $1", answer
            ),
            what="the router's verdict on the receiver's 02",
        )
        assert verdict == [{"reason_code": "status_unknown_message"}]
        queued = await exchange.fetch("SELECT unit FROM outbox WHERE message_id = $1", answer)
        assert queued == [{"unit": COMMUNE_A}]
    else:
        refused = await exchange.refusals(body.message_id)
        assert (refused[0]["recipient"], refused[0]["reason_code"]) == (
            exchange.settings.router_id,
            "attachment_hash_mismatch",
        )
    assert not await exchange.fetch(
        "SELECT 1 FROM incoming_register WHERE message_id = $1", body.message_id
    )


def _urgent(priority: int) -> str:
    packet = edxml.parse(document(PROVINCE, [COMMUNE_A]))
    assert isinstance(packet, edxml.DocumentPacket)
    marked = dataclasses.replace(packet, other_info=OtherInfo(priority=priority))
    return base64.b64encode(edxml.write(marked)).decode()


async def test_a_document_refused_before_numbering_uses_no_number(exchange: Exchange) -> None:
    """What the router would surely refuse is refused at the API, 422 with its reason code,
    and takes no number: the next document sent is number 1."""
    note = {"name": "a.txt", "media_type": "text/plain", "content": "YQ=="}
    letter = {"subject": "Công văn về việc thử nghiệm"}
    large = b"%PDF-1.4\n" + bytes(6 * 1024 * 1024)
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as s,
    ):
        base = f"http://127.0.0.1:{port}/units/{PROVINCE}"
        upload = {"Content-Type": "application/octet-stream"}
        async with s.post(f"{base}/attachments", data=io.BytesIO(large), headers=upload) as answer:
            claim = await answer.json()
        by_reference = {"name": "scan.pdf", "media_type": "application/pdf",
                        "reference": claim["reference"]}  # fmt: skip
        refused = {
            "unit_unknown": {"to": [COMMUNE_A, "000.77.00.H62"], "fields": letter},
            "edxml_invalid_value": {"to": [COMMUNE_A], "edxml": _urgent(7)},
            "attachment_type_not_allowed": {
                "to": [COMMUNE_A], "fields": letter,
                "attachments": [{**note, "media_type": "application/x-msdownload"}],
            },
            "attachment_too_large": {
                "to": [COMMUNE_A], "fields": letter, "attachments": [by_reference] * 100,
            },
            "attachment_too_large (count)": {
                "to": [COMMUNE_A], "fields": letter, "attachments": [note] * 101,
            },
        }  # fmt: skip
        for reason, body in refused.items():
            status, answer = await _post(s, f"{base}/documents", body)
            assert (status, answer["reason_code"]) == (422, reason.split(" ")[0]), answer
            assert "000.77.00.H62" in answer["reason"] or reason != "unit_unknown"
        for table in ("register_counters", "outgoing_register", "outbox"):
            assert not await exchange.fetch(f"SELECT 1 FROM {table}"), table

        status, sent = await _post(
            s, f"{base}/documents", {"to": [COMMUNE_A], "edxml": _urgent(4), "attachments": [note]}
        )
    assert (status, sent["number"]) == (201, 1), sent
    counters = await exchange.fetch("SELECT unit, register, last FROM register_counters")
    assert counters == [{"unit": PROVINCE, "register": "out", "last": 1}]
