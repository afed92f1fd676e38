"""The console in a real browser: Debian's chromium driven by Playwright (executable_path,
no browser download), against a console serving a real exchange's schema (tests/e2e's
`exchange`: Kafka, PostgreSQL, a router and a connector all running).

Every test leaves a screenshot of the page it ended on in test-artifacts/console/ (not
committed), so a reviewer can see what each page looked like.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from console import store
from console.accounts import Role
from console.server import Console
from kernel import database
from kernel.settings import Settings
from lienthong.devstack import chromium
from tests.clock import Clock
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, DEPARTMENT, PROVINCE, Exchange

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
MONITOR_UNIT = "000.00.12.H62"
"""Sở Khoa học và Công nghệ, which took over the Department of ICT's work in 2025."""
NEW_PASSWORD = "một mật khẩu đủ dài 2026"


@dataclasses.dataclass(frozen=True)
class User:
    username: str
    password: str
    """The one-time password until `login` changes it to NEW_PASSWORD."""


@dataclasses.dataclass
class Site:
    url: str
    exchange: Exchange
    clock: Clock
    users: dict[str, User]
    """By role name: provincial_admin (PROVINCE), department_monitor (MONITOR_UNIT),
    unit_admin_a / clerk_a (COMMUNE_A), unit_admin_b / clerk_b (COMMUNE_B),
    clerk_province (PROVINCE) and clerk_department (DEPARTMENT)."""


_ACCOUNTS = {
    "provincial_admin": ("Cao Văn Trọng", PROVINCE, "ubndt", Role.PROVINCIAL_ADMIN),
    "department_monitor": ("Đặng Thị Thu Hà", MONITOR_UNIT, "skhcn", Role.DEPARTMENT_MONITOR),
    "unit_admin_a": ("Lê Minh Tâm", COMMUNE_A, "xachauthanh", Role.UNIT_ADMIN),
    "clerk_a": ("Trần Thị Lan", COMMUNE_A, "xachauthanh", Role.CLERK),
    "unit_admin_b": ("Phạm Quốc Bảo", COMMUNE_B, "xamocay", Role.UNIT_ADMIN),
    "clerk_b": ("Võ Thị Hồng", COMMUNE_B, "xamocay", Role.CLERK),
    "clerk_province": ("Nguyễn Văn An", PROVINCE, "ubndt", Role.CLERK),
    "clerk_department": ("Huỳnh Thị Mai", DEPARTMENT, "snv", Role.CLERK),
}


@pytest.fixture(scope="session")
async def browser(settings: Settings) -> AsyncIterator[Browser]:
    executable = chromium.binary(settings)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=chromium.ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def site(exchange: Exchange) -> AsyncIterator[Site]:
    """A console on `exchange`'s schema, with an account of each role."""
    dsn = exchange.endpoints.owner_database_url
    assert dsn is not None
    clock = Clock()
    conn = await database.connect(dsn.reveal(), schema=exchange.settings.database_schema)
    users: dict[str, User] = {}
    try:
        for key, (name, unit, abbreviation, role) in _ACCOUNTS.items():
            account, password = await store.create(
                conn, full_name=name, unit=unit, abbreviation=abbreviation, role=role,
                actor="test", now=clock(),
            )  # fmt: skip
            users[key] = User(account.username, password)
    finally:
        await conn.close()
    console_dsn = exchange.endpoints.console_database_url  # the console runs as its own role
    assert console_dsn is not None
    async with Console(exchange.settings, console_dsn.reveal(), port=0, clock=clock) as console:
        yield Site(console.url, exchange, clock, users)


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="vi-VN")
    opened = await context.new_page()
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        if not opened.is_closed():
            await opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await context.close()


async def login(page: Page, site: Site, who: str, *, first: bool = True) -> None:
    """Log `who` in; at the first login, make the forced password change (Article 9.2)."""
    user = site.users[who]
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password if first else NEW_PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    if first:
        await page.wait_for_url(f"{site.url}/password")
        await page.fill("input[name=current]", user.password)
        await page.fill("input[name=new]", NEW_PASSWORD)
        await page.fill("input[name=repeat]", NEW_PASSWORD)
        await page.click("form[action='/password'] button[type=submit]")
    await page.wait_for_url(f"{site.url}/")
