"""The connector's HTTP API over a real socket, against the whole exchange."""

from __future__ import annotations

import base64
import functools
from typing import Any

import aiohttp
import pytest

from connectors import api
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
    status, entries = await _get(session, f"{base}/units/{unit}/inbox")
    return entries if status == 200 and entries else []


async def _answered(
    session: aiohttp.ClientSession, base: str, message_id: str, codes: set[str]
) -> Any:
    _, state = await _get(session, f"{base}/units/{PROVINCE}/documents/{message_id}")
    return state if {s["status_code"] for s in state["statuses"]} >= codes else None


async def test_send_receive_and_answer_over_http(exchange: Exchange) -> None:
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession() as s,
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
XXE = base64.b64encode(b"<!DOCTYPE x [<!ENTITY a SYSTEM 'file:///'>]><x/>").decode()


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": "%%%"}, 422, "attachment_not_base64"),
        (DOCUMENTS, {"to": [], "edxml": ""}, 422, "organid_invalid"),
        (DOCUMENTS, {"to": [COMMUNE_A], "edxml": XXE}, 422, "edxml_external_entity"),
        ("/units/000.00.99.H62/documents", {"to": [COMMUNE_A], "edxml": ""}, 404, "unit_unknown"),
        (f"/units/{COMMUNE_A}/inbox/nope/status", {"code": "03"}, 404, "unit_unknown"),
        (f"/units/{COMMUNE_A}/inbox/nope/status", {"code": "01"}, 422, "edxml_invalid_value"),
    ],
)
async def test_bad_requests_get_reason_codes(
    exchange: Exchange, path: str, body: object, status: int, reason: str
) -> None:
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession() as s,
    ):
        got, answer = await _post(s, f"http://127.0.0.1:{port}{path}", body)
    assert (got, answer["reason_code"]) == (status, reason)
