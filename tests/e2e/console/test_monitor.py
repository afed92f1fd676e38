"""The Department's pages in a real browser, on documents sent through the real exchange: an
overdue receipt appears once its working-day deadline passes, the dashboard counts what
was sent, and the usage report downloads as a PDF in Vietnamese; a clerk opens none of it."""

from __future__ import annotations

import dataclasses
import datetime
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page
from pypdf import PdfReader

from console import monitor
from schemas import edxml
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, PROVINCE
from tests.e2e.console.conftest import ARTIFACTS, Site, login

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _due(sender: str, to: list[str], due: datetime.date) -> bytes:
    packet = edxml.parse(document(sender, to))
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(dataclasses.replace(packet, due_date=due))


async def _delivery(site: Site, message_id: str, state: str) -> list[dict[str, Any]]:
    return await site.exchange.fetch(
        "SELECT d.updated_at FROM deliveries d JOIN messages m USING (message_id)"
        " WHERE d.message_id = $1 AND d.state = $2 AND m.verdict = 'routed'",
        message_id,
        state,
    )


async def test_a_monitor_sees_an_overdue_receipt_appear(page: Page, site: Site) -> None:
    exchange = site.exchange
    # Acknowledged at once, but past the due date its sender set: listed for want of a 06.
    dated, _ = await exchange.connector.send(
        PROVINCE, _due(PROVINCE, [COMMUNE_B], datetime.date(2026, 1, 5)), [COMMUNE_B]
    )
    await exchange.until(lambda: _delivery(site, dated.message_id, "01"), what="the 01")
    async with exchange.connector_held_back(COMMUNE_A):  # its clerk's connector sends no 01
        body, _ = await exchange.connector.send(
            PROVINCE, document(PROVINCE, [COMMUNE_A]), [COMMUNE_A]
        )
        delivered = await exchange.until(
            lambda: _delivery(site, body.message_id, "routed"), what="the delivery"
        )
        await login(page, site, "department_monitor")
        await page.goto(f"{site.url}/monitor/overdue")
        assert body.message_id not in await page.inner_text("main")
        past_due = await page.inner_text("#due")
        assert "05/01/2026" in past_due
        assert "UBND xã Mỏ Cày" in past_due
        assert await page.inner_text("#due-total") == "(1)"

        deadline = monitor.receipt_deadline(delivered[0]["updated_at"])
        site.clock.offset = deadline - site.clock() + datetime.timedelta(minutes=1)
        await login(page, site, "department_monitor", first=False)  # the session idled out
        await page.click("nav.menu a[href='/monitor/overdue']")
        await page.wait_for_url(f"{site.url}/monitor/overdue")
        listed = await page.inner_text("#receipts")
        assert body.message_id in listed
        assert "UBND xã Châu Thành" in listed
        assert monitor.local_time(deadline) in listed
        assert dated.message_id not in listed
        assert await page.inner_text("#receipts-total") == "(1)"


async def test_the_dashboard_counts_and_the_report_downloads(
    page: Page, site: Site, tmp_path: Path
) -> None:
    exchange = site.exchange
    body, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [COMMUNE_A, COMMUNE_B]), [COMMUNE_A, COMMUNE_B]
    )
    await exchange.until(lambda: _both(site, body.message_id), what="both 01s in the ledger")
    await login(page, site, "department_monitor")
    await page.click("nav.menu a[href='/monitor/dashboard']")
    await page.wait_for_url(f"{site.url}/monitor/dashboard")
    assert await page.inner_text("#sent .value") == "1"
    assert await page.inner_text("#received .value") == "2"
    province = page.locator("#units tr", has_text="UBND tỉnh Vĩnh Long")
    assert [c.strip() for c in await province.locator("td.number").all_inner_texts()] == [
        "1", "0", "0", "0", "0",
    ]  # fmt: skip
    commune = page.locator("#units tr", has_text="UBND xã Châu Thành")
    assert [c.strip() for c in await commune.locator("td.number").all_inner_texts()] == [
        "0", "1", "0", "1", "0",
    ]  # fmt: skip
    latency = page.locator("#latency tbody tr")
    assert (await latency.nth(1).locator("td.number").first.inner_text()).strip() == "2"
    assert await page.locator("#days .bar.received:not(.s0)").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "monitor_dashboard.png"), full_page=True)

    answer = await page.request.get(f"{site.url}/monitor/dashboard?from=2026-13-01")
    assert answer.status == 400
    assert 'data-reason="request_malformed"' in await answer.text()

    await page.click("nav.menu a[href='/monitor/report']")
    await page.wait_for_url(f"{site.url}/monitor/report")
    await page.screenshot(path=str(ARTIFACTS / "monitor_report.png"), full_page=True)
    async with page.expect_download() as waiting:
        await page.click("#pdf")
    download = await waiting.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name.startswith("bao-cao-su-dung-")
    reader = PdfReader(io.BytesIO(saved.read_bytes()))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "BÁO CÁO TÌNH HÌNH SỬ DỤNG HỆ THỐNG LIÊN THÔNG VĂN BẢN" in text
    assert "UBND xã Châu Thành" in text
    assert site.users["department_monitor"].username in text
    exports = await exchange.fetch(
        "SELECT detail FROM account_events WHERE event = 'export' AND username = $1",
        site.users["department_monitor"].username,
    )
    assert len(exports) == 1

    # A clerk has no such pages, by menu or by URL.
    await page.click("header form[action='/logout'] button")
    await login(page, site, "clerk_a")
    assert await page.locator("nav.menu a[href^='/monitor']").count() == 0
    for path in ("/monitor/dashboard", "/monitor/overdue", "/monitor/report.pdf"):
        refused = await page.request.get(f"{site.url}{path}")
        assert refused.status == 403
        assert 'data-reason="account_scope_forbidden"' in await refused.text()


async def _both(site: Site, message_id: str) -> bool:
    rows = await site.exchange.fetch(
        "SELECT state FROM deliveries WHERE message_id = $1", message_id
    )
    return len(rows) == 2 and all(r["state"] == "01" for r in rows)
