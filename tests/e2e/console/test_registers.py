"""The registers in a real browser, on documents sent through the real exchange: a clerk finds
one by its notation, opens its timeline and prints and exports the quarter (Article 10.3);
a unit admin of A gets 403 for everything of B's, however the URL was made."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page
from pypdf import PdfReader

from console import registers
from schemas import edxml
from schemas.edxml.model import Code
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, PROVINCE
from tests.e2e.console.conftest import ARTIFACTS, Site, login

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
FORMULA = '=HYPERLINK("http://attacker.example","UBND tỉnh")'


def _packet(to: list[str], number: str, notation: str, subject: str, author: str) -> bytes:
    """The fixture document from the province, numbered, titled and signed off as given."""
    packet = edxml.parse(document(PROVINCE, to))
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(
        dataclasses.replace(
            packet,
            from_=dataclasses.replace(packet.from_, organ_name=author),
            code=Code(number, notation),
            document_id=f"{PROVINCE},2026/11/20,{number}/{notation}",
            subject=subject,
        )
    )


async def _send(site: Site, to: list[str], number: str, notation: str, *, author: str = "") -> str:
    """Send from the province and wait until every recipient has registered it."""
    exchange = site.exchange
    subject = f"V/v kế hoạch số {number} về chuyển đổi số"
    data = _packet(to, number, notation, subject, author or "UBND tỉnh Vĩnh Long")
    body, _ = await exchange.connector.send(PROVINCE, data, to)

    async def registered() -> bool:
        rows = await exchange.fetch(
            "SELECT unit FROM incoming_register WHERE message_id = $1", body.message_id
        )
        return len(rows) == len(to)

    await exchange.until(registered, what=f"{notation} registered by {to}")
    return body.message_id


async def test_a_clerk_finds_a_document_by_notation_and_exports_the_quarter(
    page: Page, site: Site, tmp_path: Path
) -> None:
    await _send(site, [COMMUNE_A], "37", "TB-UBND")
    await _send(site, [COMMUNE_A], "38", "KH-UBND", author=FORMULA)
    await login(page, site, "clerk_a")
    await page.click("nav.menu a[href='/registers']")
    await page.wait_for_url(f"{site.url}/registers/{COMMUNE_A}/incoming")
    assert await page.get_attribute("[data-total]", "data-total") == "2"

    await page.fill("form[role=search] input[name=notation]", "TB-UBND")
    await page.click("form[role=search] button[type=submit]")
    await page.wait_for_url("**notation=TB-UBND**")
    assert await page.get_attribute("[data-total]", "data-total") == "1"
    table = await page.inner_text("table.register")
    assert "37/TB-UBND" in table
    assert "38/KH-UBND" not in table

    await page.click("table.register a:has-text('37/TB-UBND')")
    await page.wait_for_url(f"{site.url}/documents/**")
    assert "37/TB-UBND" in await page.inner_text("h1")
    assert await page.locator("tr[data-what=registered_in]").count() == 1
    assert await page.locator("tr[data-what='01']").count() == 1  # the ledger's 01
    assert await page.locator("tr[data-recipient]").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "registers_document.png"), full_page=True)
    await page.go_back()

    year, quarter = registers.quarter_of(site.clock())
    async with page.expect_download() as pdf_download:
        await page.click("button[data-export=pdf]")
    pdf = await (await pdf_download.value).path()
    reader = PdfReader(pdf)
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height
    text = " ".join(p.extract_text() for p in reader.pages)
    for expected in ("SỔ ĐĂNG KÝ VĂN BẢN ĐẾN", "UBND XÃ CHÂU THÀNH", "37/TB-UBND", "38/KH-UBND",
                     f"Quý {registers.ROMAN[quarter]} năm {year}", "chuyển đổi số"):  # fmt: skip
        assert expected in text, expected

    async with page.expect_download() as csv_download:
        await page.click("button[data-export=csv]")
    export = await csv_download.value
    assert export.suggested_filename == f"so-van-ban-den-{COMMUNE_A}-{year}-Q{quarter}.csv"
    data = await asyncio.to_thread(Path(await export.path()).read_bytes)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(registers.INCOMING_COLUMNS)
    by_notation = {row[3]: row for row in rows[1:]}
    assert by_notation.keys() == {"37/TB-UBND", "38/KH-UBND"}
    assert by_notation["38/KH-UBND"][2] == "'" + FORMULA  # the sender's name, neutralised
    assert by_notation["37/TB-UBND"][6:8] == ["", ""]  # signed by hand on paper

    audited = await site.exchange.fetch(
        "SELECT detail->>'format' AS format FROM account_events"
        " WHERE username = $1 AND event = 'export' ORDER BY id",
        site.users["clerk_a"].username,
    )
    assert [row["format"] for row in audited] == ["pdf", "csv"]


async def test_a_unit_admin_of_a_cannot_open_bs_registers(page: Page, site: Site) -> None:
    both = await _send(site, [COMMUNE_A, COMMUNE_B], "41", "UBND-VP")
    b_only = await _send(site, [COMMUNE_B], "42", "UBND-VP")
    await login(page, site, "unit_admin_a")
    await page.click("nav.menu a[href='/registers']")
    await page.wait_for_url(f"{site.url}/registers/{COMMUNE_A}/incoming")
    assert COMMUNE_B not in await page.inner_text("main")

    # Through the page: the search form pointed at B's register.
    await page.evaluate(
        f"document.querySelector('form[role=search]').action = '/registers/{COMMUNE_B}/incoming'"
    )
    async with page.expect_navigation() as submitted:
        await page.click("form[role=search] button[type=submit]")
    refused = await submitted.value
    assert refused is not None
    assert refused.status == 403
    assert await page.get_attribute("[data-reason]", "data-reason") == "account_scope_forbidden"

    # By typing the URL: the registers, their exports and a document only B received.
    period = "year=2026&quarter=4"
    for path in (
        f"/registers/{COMMUNE_B}/incoming",
        f"/registers/{COMMUNE_B}/outgoing?notation=UBND",
        f"/registers/{COMMUNE_B}/incoming/export.pdf?{period}",
        f"/registers/{COMMUNE_B}/outgoing/export.csv?{period}",
        f"/registers/{PROVINCE}/outgoing",
        f"/documents/{b_only}",
        f"/documents/{uuid.uuid4()}",  # absent: the same answer, so nothing is learnt
    ):
        answer = await page.goto(f"{site.url}{path}")
        assert answer is not None
        assert answer.status == 403, path
        assert await page.get_attribute("[data-reason]", "data-reason") == (
            "account_scope_forbidden"
        ), path
    answer = await page.goto(f"{site.url}/registers/{COMMUNE_B.lower()}/incoming")
    assert answer is not None
    assert answer.status == 400
    answer = await page.goto(f"{site.url}/registers/{COMMUNE_A}/incoming?year=2026&quarter=5")
    assert answer is not None
    assert answer.status == 400
    assert await page.get_attribute("[data-reason]", "data-reason") == "request_malformed"

    # A document A and B both received: A's side only.
    answer = await page.goto(f"{site.url}/documents/{both}")
    assert answer is not None
    assert answer.status == 200
    assert await page.locator(f"tr[data-recipient='{COMMUNE_A}']").count() == 1
    assert await page.locator(f"tr[data-recipient='{COMMUNE_B}']").count() == 0
    assert COMMUNE_B not in await page.inner_text("table.timeline")
    assert "41/UBND-VP" in await page.inner_text("h1")
    exported = await site.exchange.fetch(
        "SELECT count(*) AS n FROM account_events WHERE username = $1 AND event = 'export'",
        site.users["unit_admin_a"].username,
    )
    assert exported[0]["n"] == 0
