"""Logging in as Articles 7 and 9.2 want it, in a real browser; and forms from anywhere but
the console refused."""

from __future__ import annotations

import datetime

import pytest
from playwright.async_api import Page

from tests.e2e.console.conftest import NEW_PASSWORD, Site, login

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_first_login_forces_a_password_change_before_anything_else(
    page: Page, site: Site
) -> None:
    user = site.users["clerk_a"]
    await page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{site.url}/password")
    await page.goto(f"{site.url}/")  # nothing else opens until the password is changed
    assert page.url == f"{site.url}/password"
    await page.fill("input[name=current]", user.password)
    await page.fill("input[name=new]", "short")
    await page.fill("input[name=repeat]", "short")
    await page.evaluate("document.querySelectorAll('input').forEach(i => i.minLength = 0)")
    await page.click("form[action='/password'] button[type=submit]")
    assert await page.get_attribute("[role=alert]", "data-reason") == "password_too_weak"
    await page.fill("input[name=current]", user.password)
    await page.fill("input[name=new]", NEW_PASSWORD)
    await page.fill("input[name=repeat]", NEW_PASSWORD)
    await page.click("form[action='/password'] button[type=submit]")
    await page.wait_for_url(f"{site.url}/")
    assert user.username in await page.inner_text("header")
    # The one-time password is gone; the new one opens the console.
    await page.click("header form[action='/logout'] button")
    await page.wait_for_url(f"{site.url}/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    await page.click("form[action='/login'] button[type=submit]")
    assert await page.get_attribute("[role=alert]", "data-reason") == "login_failed"
    await login(page, site, "clerk_a", first=False)


async def test_a_form_without_the_sessions_token_is_refused(page: Page, site: Site) -> None:
    await login(page, site, "clerk_a")
    # The browser's own cookies, but no CSRF token: a forged logout.
    answer = await page.request.post(f"{site.url}/logout", form={"csrf": "x" * 43})
    assert answer.status == 403
    assert 'data-reason="csrf_invalid"' in await answer.text()
    answer = await page.request.post(f"{site.url}/password", form={})
    assert answer.status == 403
    # The session survived both: still logged in.
    await page.goto(f"{site.url}/")
    assert page.url == f"{site.url}/"


async def test_a_form_another_site_posts_is_refused(page: Page, site: Site) -> None:
    await login(page, site, "clerk_a")
    token = await page.get_attribute("header input[name=csrf]", "value")
    # Even with the right token (leaked, say), a form from another origin is refused.
    forged = (
        f'<form method="post" action="{site.url}/logout">'
        f'<input name="csrf" value="{token}"><button>go</button></form>'
    )
    await page.route(
        "http://attacker.example/",
        lambda route: route.fulfill(body=forged, content_type="text/html"),
    )
    await page.goto("http://attacker.example/")
    async with page.expect_response(f"{site.url}/logout") as answer:
        await page.click("button")
    refused = await answer.value
    assert refused.status == 403
    assert await refused.text() != ""
    await page.goto(f"{site.url}/")
    assert page.url == f"{site.url}/"


async def test_an_account_idle_sixty_days_is_locked(page: Page, site: Site) -> None:
    await login(page, site, "clerk_a")
    await page.click("header form[action='/logout'] button")
    site.clock.offset = datetime.timedelta(days=61)
    user = site.users["clerk_a"]
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", NEW_PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    assert await page.get_attribute("[role=alert]", "data-reason") == "account_locked"
    rows = await site.exchange.fetch(
        "SELECT locked_at, lock_reason FROM accounts WHERE username = $1", user.username
    )
    assert rows[0]["lock_reason"] == "idle"


async def test_a_session_ends_when_its_account_is_locked(page: Page, site: Site) -> None:
    await login(page, site, "clerk_a")
    await site.exchange.fetch(
        "UPDATE accounts SET locked_at = now(), lock_reason = 'manual' WHERE username = $1",
        site.users["clerk_a"].username,
    )
    await page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")
