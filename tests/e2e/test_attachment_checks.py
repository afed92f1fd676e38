"""Attachments on the real exchange: malware through a real clamd (Article 9.2đ) and PAdES
requirements per document type (Articles 3.4, 9.1, 10), each outcome in the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest

from connectors import packing
from kernel import metrics
from kernel.settings import Settings
from lienthong.devstack.clamd import LocalClamd, eicar
from lienthong.devstack.stack import Endpoints
from lienthong.samples import minimal_pdf
from schemas.envelope import AttachmentRef
from signing import pdf
from tests.e2e.conftest import (
    COMMUNE_A,
    COMMUNE_B,
    PROVINCE,
    Exchange,
    exchange_with,
    exchange_with_policy,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DECISIONS_SIGNED = """version: 1
rules: []
pdf_signatures:
  - {id: decisions-signed, article: "Đ9.1", document_types: [quyết định],
     require: [organisation], action: reject}
"""


def _document(type_name: str = "Công văn") -> bytes:
    return packing.edxml_from_fields(
        PROVINCE, {"subject": "Kế hoạch công tác năm 2027", "type_name": type_name}, [COMMUNE_A]
    )


async def _registered(exchange: Exchange, message_id: str) -> list[dict[str, Any]]:
    return await exchange.fetch(
        "SELECT unit FROM incoming_register WHERE message_id = $1", message_id
    )


def _infected_count() -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "lienthong_malware_scans_total", {"verdict": "infected"}
    )
    return sample or 0.0


async def _scans(exchange: Exchange, message_id: str) -> dict[str, tuple[str, str | None]]:
    rows = await exchange.fetch(
        "SELECT attachment, verdict, detail FROM malware_scans WHERE message_id = $1", message_id
    )
    return {r["attachment"]: (r["verdict"], r["detail"]) for r in rows}


async def test_eicar_is_refused_through_clamd_and_a_clean_file_passes(exchange: Exchange) -> None:
    assert exchange.router.scanner is not None
    before = _infected_count()
    infected, _ = await exchange.connector.send(
        PROVINCE, _document(), [COMMUNE_A],
        [packing.attachment_of("bao-cao.txt", "text/plain", b"Bao cao\n" + eicar())],
    )  # fmt: skip
    clean, _ = await exchange.connector.send(
        PROVINCE, _document(), [COMMUNE_A],
        [packing.attachment_of("bao-cao.txt", "text/plain", "Báo cáo quý III".encode())],
    )  # fmt: skip
    refusal = await exchange.refusals(infected.message_id)
    assert refusal[0]["reason_code"] == "malware_found"
    assert "Lienthong.Test.EICAR" in refusal[0]["description"]
    assert (await _scans(exchange, infected.message_id))["bao-cao.txt"][0] == "infected"
    assert not await _registered(exchange, infected.message_id)
    dead = await exchange.fetch(
        "SELECT reason_code FROM dead_letters WHERE message_id = $1", infected.message_id
    )
    assert dead == [{"reason_code": "malware_found"}], "the original bytes are kept"
    assert _infected_count() == before + 1

    assert await exchange.until(
        functools.partial(_registered, exchange, clean.message_id), what="the clean one"
    )
    assert await _scans(exchange, clean.message_id) == {"bao-cao.txt": ("clean", None)}


async def test_without_a_scanner_the_ledger_says_not_scanned(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with(settings, services, tmp_path, clamd="none") as exchange:
        assert exchange.router.scanner is None
        body, _ = await exchange.connector.send(
            PROVINCE, _document(), [COMMUNE_A],
            [packing.attachment_of("bao-cao.txt", "text/plain", b"Bao cao quy III")],
        )  # fmt: skip
        await exchange.until(functools.partial(_registered, exchange, body.message_id))
        verdict, detail = (await _scans(exchange, body.message_id))["bao-cao.txt"]
        assert verdict == "not_scanned"
        assert "no scanner" in (detail or "")


async def test_documents_wait_while_clamd_is_down_and_pass_when_it_is_back(
    settings: Settings,
    services: Endpoints,
    tmp_path: Path,
    unused_tcp_port: int,
) -> None:
    """A configured scanner that does not answer holds everything back: nothing is routed
    unscanned, nothing is refused for it, and nothing is lost."""
    address = f"tcp://127.0.0.1:{unused_tcp_port}"
    async with exchange_with(settings, services, tmp_path, clamd=address) as exchange:
        body, _ = await exchange.connector.send(
            PROVINCE, _document(), [COMMUNE_A],
            [packing.attachment_of("bao-cao.txt", "text/plain", b"Bao cao quy III")],
        )  # fmt: skip
        await asyncio.sleep(3)
        assert not await exchange.fetch(
            "SELECT 1 FROM messages WHERE message_id = $1", body.message_id
        )
        late = LocalClamd(
            dataclasses.replace(settings, state_dir=tmp_path / "clamd", clamd_port=unused_tcp_port)
        )
        await late.start()
        try:
            await exchange.until(
                functools.partial(_registered, exchange, body.message_id), timeout=60,
                what="delivery once clamd answers",
            )  # fmt: skip
            assert (await _scans(exchange, body.message_id))["bao-cao.txt"][0] == "clean"
        finally:
            late.stop()


def _pdf(name: str, content: bytes) -> AttachmentRef:
    return packing.attachment_of(name, "application/pdf", content)


async def test_pdf_signatures_required_by_document_type(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> None:
    async with exchange_with_policy(settings, services, tmp_path, DECISIONS_SIGNED) as exchange:
        unit, other = exchange.pki.unit(PROVINCE), exchange.pki.unit(COMMUNE_B)
        signed = await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
        by_other = await pdf.sign_pdf(minimal_pdf(), other.key, other.chain)
        sends = {
            "signed": (_document("Quyết định"), signed),
            "unsigned": (_document("Quyết định"), minimal_pdf()),
            "other-unit": (_document("Quyết định"), by_other),
            "letter-unsigned": (_document("Công văn"), minimal_pdf()),
        }
        ids = {}
        for name, (document, content) in sends.items():
            body, _ = await exchange.connector.send(
                PROVINCE, document, [COMMUNE_A], [_pdf("qd.pdf", content)]
            )
            ids[name] = body.message_id
        for name in ("signed", "letter-unsigned"):
            assert await exchange.until(
                functools.partial(_registered, exchange, ids[name]), what=name
            )
        for name, reason in (
            ("unsigned", "pdf_unsigned"),
            ("other-unit", "certificate_wrong_unit"),
        ):
            refusal = await exchange.refusals(ids[name])
            assert refusal[0]["reason_code"] == reason, name
            assert "decisions-signed" in refusal[0]["description"]


async def test_the_default_policy_flags_unsigned_pdfs_and_refuses_broken_signatures(
    exchange: Exchange,
) -> None:
    unit = exchange.pki.unit(PROVINCE)
    signed = await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
    tampered = signed.replace(b"Van ban lien thong", b"Van ban lien thonG")
    unsigned, _ = await exchange.connector.send(
        PROVINCE, _document(), [COMMUNE_A], [_pdf("cv.pdf", minimal_pdf())]
    )
    broken, _ = await exchange.connector.send(
        PROVINCE, _document(), [COMMUNE_A], [_pdf("cv.pdf", tampered)]
    )
    await exchange.until(functools.partial(_registered, exchange, unsigned.message_id))
    flags = await exchange.fetch(
        "SELECT rule_id, action, reason_code FROM policy_decisions WHERE message_id = $1",
        unsigned.message_id,
    )
    assert flags == [
        {"rule_id": "A3.4-pdf-signed", "action": "flag", "reason_code": "pdf_unsigned"}
    ]
    refusal = await exchange.refusals(broken.message_id)
    assert refusal[0]["reason_code"] == "signature_invalid"
    assert "A3.4-pdf-signature-valid" in refusal[0]["description"]
