"""The province's operators at the console: a held document judged on what it says (its
subject, the matched words in context, hostile markup shown as text), released and seen
delivered, or rejected with a reason its sender reads in the 02; a dead letter replayed
once its cause is fixed. Only the provincial administrator may open these pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page

from broker.directory import Unit, store
from connectors import packing
from kernel import database, kafka
from lienthong.samples import minimal_pdf
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange
from tests.e2e.console.conftest import ARTIFACTS, Site, login

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
HOSTILE = '<img src=x onerror="document.title=1">'
NEW_COMMUNE = "000.09.00.H62"


async def _held(exchange: Exchange, subject: str, content: str, *, pdf: bool = False) -> str:
    """Send PROVINCE -> COMMUNE_A a document the default policy holds (Article 4.3's
    religion terms); its message id once the router has held it."""
    edxml = packing.edxml_from_fields(
        PROVINCE, {"subject": subject, "content": content, "type_name": "Công văn"}, [COMMUNE_A]
    )
    files = [
        packing.attachment_of(
            "ghi-chu<b>.txt", "text/plain", f"Ghi chú: {HOSTILE} về tín ngưỡng.".encode()
        )
    ]
    if pdf:
        files.append(
            packing.attachment_of("phu-luc.pdf", "application/pdf", minimal_pdf("Phu luc so 1"))
        )
    body, _ = await exchange.connector.send(PROVINCE, edxml, [COMMUNE_A], files)

    async def held() -> list[dict[str, Any]]:
        return await exchange.fetch("SELECT 1 FROM held WHERE message_id = $1", body.message_id)

    await exchange.until(held, what="the document held for review")
    return body.message_id


async def _open_held(page: Page, site: Site, subject: str) -> None:
    await page.click("nav.menu a[href='/review']")
    await page.wait_for_url(f"{site.url}/review")
    await page.click(f"table.held a:has-text({subject[:20]!r})")
    await page.wait_for_selector("dl.facts dd.subject")


async def _screenshot(page: Page, name: str) -> None:
    """A page the test passes through, kept beside the one it ends on."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _reloaded_until(page: Page, site: Site, selector: str, what: str) -> None:
    """Reload the page until `selector` shows: the router and connectors work meanwhile."""

    async def shown() -> bool:
        await page.reload()
        return await page.locator(selector).count() > 0

    await site.exchange.until(shown, what=what)


async def test_a_reviewer_releases_a_held_document_and_sees_it_delivered(
    page: Page, site: Site
) -> None:
    subject = f"V/v quản lý hoạt động tôn giáo {HOSTILE}"
    message_id = await _held(site.exchange, subject, "Đề nghị xã báo cáo về cơ sở tôn giáo.")
    await login(page, site, "provincial_admin")
    await _open_held(page, site, subject)
    assert await page.inner_text("dd.subject") == subject  # markup shown as text, not run
    assert await page.title() != "1"
    assert await page.locator("main img").count() == 0
    finding = page.locator("table.findings tr[data-rule='A4.3-religion'][data-field='subject']")
    assert "Đ4.3" in await finding.inner_text()
    marks = await finding.locator("mark").all_inner_texts()
    assert "tôn giáo" in marks
    assert "tín ngưỡng" in await page.locator(".judged mark").all_inner_texts()
    download = page.locator("table.attachments a[download]")
    answer = await page.request.get(f"{site.url}{await download.get_attribute('href')}")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert HOSTILE.encode() in await answer.body()
    await _screenshot(page, "review_held_document")

    await page.fill("form.release textarea[name=why]", "Nội dung quản lý nhà nước thông thường")
    await page.click("form.release button[type=submit]")
    await page.wait_for_url(f"{site.url}/review/{message_id}")
    assert await page.get_attribute("dd.state", "data-state") == "released"
    await _reloaded_until(
        page, site, f"tr[data-recipient='{COMMUNE_A}'][data-delivery-state='01']",
        "the recipient's 01 shown on the page",
    )  # fmt: skip
    registered = await site.exchange.fetch(
        "SELECT unit FROM incoming_register WHERE message_id = $1", message_id
    )
    assert registered == [{"unit": COMMUNE_A}]
    await page.click("nav.menu a[href='/review']")
    assert await page.locator("p[data-empty]").count() == 1
    audit = await site.exchange.fetch(
        "SELECT actor, event, reason, detail->>'message_id' AS message_id FROM account_events"
        " WHERE event = 'release'"
    )
    assert audit == [
        {
            "actor": site.users["provincial_admin"].username,
            "event": "release",
            "reason": "Nội dung quản lý nhà nước thông thường",
            "message_id": message_id,
        }
    ]


async def test_a_rejection_needs_a_reason_and_tells_the_sender_the_rules_reason(
    page: Page, site: Site
) -> None:
    subject = "Báo cáo tình hình tôn giáo trên địa bàn"
    message_id = await _held(site.exchange, subject, "Tình hình tín ngưỡng ổn định.", pdf=True)
    await login(page, site, "clerk_province")
    for path in ("/review", f"/review/{message_id}", "/dead-letters"):
        refused = await page.goto(f"{site.url}{path}")
        assert refused is not None
        assert refused.status == 403
    await page.goto(f"{site.url}/")
    await page.click("header form[action='/logout'] button")
    await page.wait_for_url(f"{site.url}/login")

    await login(page, site, "provincial_admin")
    await _open_held(page, site, subject)
    pdf = page.locator("table.attachments tr[data-read='read'] a[href$='/pdf']")
    shown = await page.request.get(f"{site.url}{await pdf.get_attribute('href')}")
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in shown.headers["content-security-policy"]
    token = await page.get_attribute("form.reject input[name=csrf]", "value")
    assert token is not None
    without = await page.request.post(
        f"{site.url}/review/{message_id}/reject", form={"csrf": token, "why": "  "}
    )
    assert without.status == 400
    assert 'data-reason="request_malformed"' in await without.text()
    why = "Nội dung cần Sở Nội vụ thẩm định trước khi gửi"
    await page.fill("form.reject textarea[name=why]", why)
    await page.click("form.reject button[type=submit]")
    await page.wait_for_url(f"{site.url}/review/{message_id}")
    assert await page.get_attribute("dd.state", "data-state") == "rejected"
    assert await page.inner_text("dd.why") == why
    refusal = await site.exchange.refusals(message_id)
    # Refused on review, not "waits for review"; the rule and article that held it named.
    assert refusal[0]["reason_code"] == "policy_refused_on_review"
    assert "A4.3-religion (Đ4.3)" in refusal[0]["description"]
    assert why in refusal[0]["description"]
    assert not await site.exchange.fetch(
        "SELECT 1 FROM incoming_register WHERE message_id = $1", message_id
    )
    again = await page.request.post(
        f"{site.url}/review/{message_id}/release", form={"csrf": token, "why": "x"}
    )
    assert again.status == 409


async def _dead_letter(exchange: Exchange) -> tuple[int, str]:
    """A document to a commune the directory does not list yet: dead-lettered."""
    body, _ = await exchange.connector.send(
        PROVINCE, document(PROVINCE, [NEW_COMMUNE]), [NEW_COMMUNE]
    )

    async def letters() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT id FROM dead_letters WHERE message_id = $1", body.message_id
        )

    found = await exchange.until(letters, what="the dead letter")
    return int(found[0]["id"]), body.message_id


async def _add_the_commune(exchange: Exchange) -> None:
    """The operator's fix: the commune in the directory, its topic made."""
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        directory = await store.fetch(conn)
        added = Unit(NEW_COMMUNE, "Xã Mới", "commune", parent=PROVINCE)
        await store.save(conn, type(directory)([*directory.units.values(), added]))
    finally:
        await conn.close()
    topic = [s for s in exchange.topics.specs([NEW_COMMUNE]) if NEW_COMMUNE in s.name]
    await kafka.ensure_topics(exchange.endpoints.kafka, topic)


async def test_an_operator_replays_a_dead_letter_once_its_cause_is_fixed(
    page: Page, site: Site
) -> None:
    letter, message_id = await _dead_letter(site.exchange)
    await _add_the_commune(site.exchange)
    await login(page, site, "provincial_admin")
    await page.click("nav.menu a[href='/dead-letters']")
    await page.select_option("select[name=reason]", "unit_unknown")
    await page.click("form.filters button[type=submit]")
    await _screenshot(page, "dead_letters_list")
    await page.click(f"tr[data-dead-letter='{letter}'] a")
    await page.wait_for_url(f"{site.url}/dead-letters/{letter}")
    assert await page.inner_text("code.reason-code") == "unit_unknown"
    await page.fill("form.replay textarea[name=why]", "Đã bổ sung xã mới vào danh mục")
    await page.click("form.replay button[type=submit]")
    await page.wait_for_url(f"{site.url}/dead-letters/{letter}")
    assert await page.get_attribute("dd.replay-count", "data-replays") == "1"
    await _reloaded_until(page, site, "strong[data-verdict='routed']", "the replay routed")
    assert re.search(r"Đã bổ sung xã mới", await page.inner_text("table.replays"))
    audit = await site.exchange.fetch(
        "SELECT actor, detail->>'message_id' AS message_id FROM account_events"
        " WHERE event = 'replay'"
    )
    assert audit == [{"actor": site.users["provincial_admin"].username, "message_id": message_id}]
