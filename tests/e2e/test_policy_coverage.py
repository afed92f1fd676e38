"""Articles 4.3 and 5.3a on the real exchange: a foreign-affairs matter with no competent
conclusion held and refused naming its rule and article, the same matter with one cited
delivered, a complaint held and refused without a word of "waiting", and a legal normative
document known by its attached text delivered with the paper-copy flag."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from connectors import packing
from lienthong.samples import minimal_pdf
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SEIZED = "V/v xử lý vụ việc tàu cá của ngư dân bị nước ngoài bắt giữ"


def _document(subject: str, content: str | None = None, type_name: str = "Công văn") -> bytes:
    fields = {
        "subject": subject,
        "type_name": type_name,
        **({"content": content} if content else {}),
    }
    return packing.edxml_from_fields(PROVINCE, fields, [COMMUNE_A])


async def _rows(exchange: Exchange, query: str, *args: Any) -> list[dict[str, Any]]:
    return await exchange.fetch(query, *args)


async def _registered(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.until(
        functools.partial(_rows, exchange, "SELECT paper_copy_required FROM incoming_register"
                          " WHERE message_id = $1", message_id),
        what=f"{message_id} registered",
    )  # fmt: skip


async def test_foreign_affairs_held_then_refused_naming_rule_and_article(
    exchange: Exchange,
) -> None:
    unconcluded, _ = await exchange.connector.send(
        PROVINCE,
        _document(SEIZED, "Đề nghị Bộ Ngoại giao cho ý kiến về việc bảo hộ ngư dân."),
        [COMMUNE_A],
    )
    concluded, _ = await exchange.connector.send(
        PROVINCE,
        _document(SEIZED, "Căn cứ ý kiến của Bộ Ngoại giao tại Công văn số 1234/BNG-LS ngày "
                  "02/3/2026, UBND tỉnh giao Sở Nông nghiệp và Môi trường bảo hộ ngư dân."),
        [COMMUNE_A],
    )  # fmt: skip
    complaint, _ = await exchange.connector.send(
        PROVINCE, _document("Chuyển đơn tố cáo của công dân Nguyễn Văn A"), [COMMUNE_A]
    )
    assert await _registered(exchange, concluded.message_id) == [{"paper_copy_required": False}]
    await exchange.until(
        functools.partial(_rows, exchange, "SELECT 1 FROM held HAVING count(*) = 2"),
        what="two held",
    )  # fmt: skip

    code, out, err = await exchange.cli("review", "list")
    assert code == 0, err
    listed = {entry["message_id"]: entry for entry in json.loads(out)}
    assert set(listed) == {unconcluded.message_id, complaint.message_id}
    held_by = listed[unconcluded.message_id]["held_by"]
    assert [(h["rule"], h["article"], h["reason_code"], h["field"], h["matched"])
            for h in held_by] == [
        ("A4.3-foreign-affairs", "Đ4.3", "policy_foreign_affairs", "subject",
         "nước ngoài bắt giữ"),
    ]  # fmt: skip
    assert [(h["rule"], h["article"]) for h in listed[complaint.message_id]["held_by"]] == [
        ("A4.2-complaint-content", "Đ4.2")
    ]

    for held, why in ((unconcluded, "chưa có kết luận của cơ quan có thẩm quyền"),
                      (complaint, "đơn tố cáo chuyển theo đường thanh tra")):  # fmt: skip
        code, out, err = await exchange.cli(
            "review", "reject", held.message_id, "--why", why, "--actor", "qtv.stttt"
        )
        assert code == 0, err

    foreign = (await exchange.refusals(unconcluded.message_id))[0]
    assert foreign["reason_code"] == "policy_refused_on_review"
    assert "rule A4.3-foreign-affairs (Đ4.3)" in foreign["description"]
    assert "chưa có kết luận của cơ quan có thẩm quyền" in foreign["description"]
    refused = (await exchange.refusals(complaint.message_id))[0]
    assert refused["reason_code"] == "policy_refused_on_review"
    assert "rule A4.2-complaint-content (Đ4.2)" in refused["description"]
    for said in ("waits for review", "chờ xem xét", "4.3"):
        assert said not in refused["description"]
    ledger = await exchange.fetch(
        "SELECT verdict, reason_code, reason FROM messages WHERE message_id = $1",
        complaint.message_id,
    )
    assert ledger[0]["verdict"] == "rejected"
    assert ledger[0]["reason_code"] == "policy_refused_on_review"
    assert "A4.2-complaint-content (Đ4.2)" in ledger[0]["reason"]
    code, out, err = await exchange.cli("review", "list", "--state", "rejected")
    assert code == 0, err
    assert {e["message_id"]: [h["rule"] for h in e["held_by"]] for e in json.loads(out)} == {
        unconcluded.message_id: ["A4.3-foreign-affairs"],
        complaint.message_id: ["A4.2-complaint-content"],
    }


# What a scanned-and-OCRed decision's text layer often is: one line, no diacritics.
DECISION = (
    "UY BAN NHAN DAN TINH VINH LONG So: 37/2026/QD-UBND QUYET DINH Ban hanh Quy che quan ly, "
    "su dung phan mem quan ly van ban va dieu hanh. Can cu Luat To chuc chinh quyen dia "
    "phuong ngay 16 thang 6 nam 2025; Can cu Luat Ban hanh van ban quy pham phap luat ngay "
    "19 thang 02 nam 2025;"
)


async def test_a_legal_normative_document_goes_with_the_paper_copy_flag(
    exchange: Exchange,
) -> None:
    decision = packing.attachment_of("37-2026-QD-UBND.pdf", "application/pdf",
                                     minimal_pdf(DECISION))  # fmt: skip
    subject = "Ban hành Quy chế quản lý, sử dụng phần mềm quản lý văn bản và điều hành"
    normative, _ = await exchange.connector.send(
        PROVINCE, _document(subject, type_name="Văn bản"), [COMMUNE_A], [decision]
    )
    plan, _ = await exchange.connector.send(
        PROVINCE,
        _document("Triển khai thi hành Luật Ban hành văn bản quy phạm pháp luật năm 2025",
                  "Căn cứ Luật Ban hành văn bản quy phạm pháp luật năm 2025, UBND tỉnh ban "
                  "hành Kế hoạch triển khai như sau", type_name="Kế hoạch"),
        [COMMUNE_A],
    )  # fmt: skip
    assert await _registered(exchange, normative.message_id) == [{"paper_copy_required": True}]
    assert await _registered(exchange, plan.message_id) == [{"paper_copy_required": False}]
    deliveries = await exchange.fetch(
        "SELECT paper_copy_required FROM deliveries WHERE message_id = $1", normative.message_id
    )
    assert deliveries == [{"paper_copy_required": True}]
    paper = await exchange.fetch(
        "SELECT rule_id, article, field, matched FROM policy_decisions"
        " WHERE message_id = $1 AND action = 'paper'",
        normative.message_id,
    )
    assert paper == [
        {
            "rule_id": "A5.3a-legal-normative-text",
            "article": "Đ5.3a",
            "field": "attachment_text",
            "matched": "can cu luat ban hanh van ban quy pham phap luat",
        }
    ]
