"""Accounts, audit and the unit directory in a real browser: a unit admin issues a clerk's
account, locks and unlocks it, and sees it all in the audit; it can reach nothing of
another unit's, by URL or by a forged form; the directory shows the 2025 successors."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.e2e.conftest import CLOSED_DISTRICT, COMMUNE_A, COMMUNE_B
from tests.e2e.console.conftest import NEW_PASSWORD, Site, login

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NEW_CLERK = "Đỗ Thị Ngọc Ánh"
NEW_USERNAME = "dtnanh.xachauthanh"
"""Article 6.2: initials of Đỗ Thị Ngọc, the given name Ánh, COMMUNE_A's abbreviation."""


async def test_a_unit_admin_issues_locks_and_unlocks_a_clerks_account(
    page: Page, site: Site, browser: Browser
) -> None:
    await login(page, site, "unit_admin_a")
    await page.goto(f"{site.url}/accounts/new")
    await page.fill("input[name=full_name]", NEW_CLERK)
    assert await page.input_value("select[name=unit]") == COMMUNE_A
    await page.select_option("select[name=role]", "clerk")
    await page.click("form[action='/accounts/new'] button[type=submit]")
    assert await page.inner_text("code.username") == NEW_USERNAME
    password = await page.inner_text("code.one-time-password")
    assert "Điều 9.2" in await page.inner_text("[role=status]")
    # Shown once: the account's page and the list never show it again.
    await page.click(f"a[href='/accounts/{NEW_USERNAME}']")
    await page.wait_for_url(f"{site.url}/accounts/{NEW_USERNAME}")
    assert password not in await page.content()
    await page.goto(f"{site.url}/accounts")
    assert password not in await page.content()
    assert (
        await page.get_attribute(f"tr[data-account='{NEW_USERNAME}'] [data-status]", "data-status")
        == "new"
    )

    clerk_context = await browser.new_context(locale="vi-VN")
    clerk = await clerk_context.new_page()
    try:
        await clerk.goto(f"{site.url}/login")
        await clerk.fill("input[name=username]", NEW_USERNAME)
        await clerk.fill("input[name=password]", password)
        await clerk.click("form[action='/login'] button[type=submit]")
        await clerk.wait_for_url(f"{site.url}/password")  # Article 9.2(b)
        await clerk.fill("input[name=current]", password)
        await clerk.fill("input[name=new]", NEW_PASSWORD)
        await clerk.fill("input[name=repeat]", NEW_PASSWORD)
        await clerk.click("form[action='/password'] button[type=submit]")
        await clerk.wait_for_url(f"{site.url}/")

        await page.goto(f"{site.url}/accounts/{NEW_USERNAME}")
        await page.fill("form#lock input[name=reason]", "Nghỉ việc theo Quyết định số 12/QĐ-UBND")
        await page.click("form#lock button[type=submit]")
        await page.wait_for_url(f"{site.url}/accounts/{NEW_USERNAME}?done=locked")
        assert await page.get_attribute("[data-status]", "data-status") == "locked"
        # The clerk's open session ended with the lock.
        await clerk.goto(f"{site.url}/")
        assert clerk.url.startswith(f"{site.url}/login")

        await page.click("form#unlock button[type=submit]")
        await page.wait_for_url(f"{site.url}/accounts/{NEW_USERNAME}?done=unlocked")
        assert await page.get_attribute("[data-status]", "data-status") == "active"
        await clerk.goto(f"{site.url}/login")
        await clerk.fill("input[name=username]", NEW_USERNAME)
        await clerk.fill("input[name=password]", NEW_PASSWORD)
        await clerk.click("form[action='/login'] button[type=submit]")
        await clerk.wait_for_url(f"{site.url}/")
    finally:
        await clerk_context.close()

    await page.goto(f"{site.url}/audit?user={NEW_USERNAME}")
    rows = page.locator(f"table.events tr[data-account='{NEW_USERNAME}']")
    events = [await row.get_attribute("data-event") for row in await rows.all()]
    # Newest first; the password change proves the current password, a login of its own.
    expected = ["login", "unlock", "lock", "password_change", "login", "login", "create"]
    assert events == expected
    lock_row = page.locator("tr[data-event=lock]")
    assert site.users["unit_admin_a"].username in await lock_row.inner_text()
    assert "12/QĐ-UBND" in await lock_row.inner_text()


async def test_a_unit_admin_reaches_nothing_of_another_unit(page: Page, site: Site) -> None:
    clerk_b = site.users["clerk_b"].username
    await login(page, site, "unit_admin_a")
    opened = await page.goto(f"{site.url}/accounts/{clerk_b}")
    assert opened is not None
    assert opened.status == 403
    assert await page.get_attribute("[data-reason]", "data-reason") == "account_scope_forbidden"
    await page.goto(f"{site.url}/accounts")
    assert clerk_b not in await page.inner_text("main")
    token = await page.get_attribute("header input[name=csrf]", "value")
    assert token is not None
    # Forged forms carrying this session's own valid token: B's clerk, an account at B.
    answer = await page.request.post(
        f"{site.url}/accounts/{clerk_b}/lock", form={"csrf": token, "reason": "forged"}
    )
    assert answer.status == 403
    answer = await page.request.post(
        f"{site.url}/accounts/new",
        form={"csrf": token, "full_name": "Lý Văn Hùng", "unit": COMMUNE_B, "role": "clerk"},
    )
    assert answer.status == 403
    rows = await site.exchange.fetch(
        "SELECT username, locked_at FROM accounts WHERE unit = $1 ORDER BY username", COMMUNE_B
    )
    assert [(row["username"], row["locked_at"]) for row in rows] == sorted(
        [(clerk_b, None), (site.users["unit_admin_b"].username, None)]
    )

    # The directory: Bến Tre's huyện Châu Thành, closed in 2025, now xã Châu Thành.
    await page.goto(f"{site.url}/directory?q=chau+thanh&level=district")
    row = page.locator(f"tr[data-unit='{CLOSED_DISTRICT}']")
    assert await row.locator(".successor").get_attribute("data-successor") == COMMUNE_A
    assert "01/07/2025" in await row.inner_text()
    await page.goto(f"{site.url}/directory/{COMMUNE_A}")
    assert CLOSED_DISTRICT in await page.inner_text("main")
