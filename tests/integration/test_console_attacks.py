"""The console as each of its users would attack it over plain HTTP: every page as every
role in both languages (none a 500, each refused where it should be), another unit's
accounts acted on by forged forms, sessions that should end, the login's token and rate
limit, and forms arriving through the TLS reverse proxy the console is deployed behind.

Each test gets a console on a schema of its own, with a province, its Department and two
communes A and B, and an account of each role.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from argon2 import PasswordHasher, profiles

from console import sessions, store
from console.accounts import Account, Role
from console.server import Console
from console.views import auth
from kernel import database
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from tests import browserless
from tests.clock import Clock

pytestmark = pytest.mark.postgres

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
PROVINCE, DEPARTMENT, A, B = "000.00.00.H62", "000.00.12.H62", "000.00.31.H62", "000.00.32.H62"
UNITS = [
    (PROVINCE, "UBND tỉnh Vĩnh Long", "province", None),
    (DEPARTMENT, "Sở Thông tin và Truyền thông", "province", PROVINCE),
    (A, "UBND xã Châu Thành", "commune", PROVINCE),
    (B, "UBND xã Mỏ Cày", "commune", PROVINCE),
]
PEOPLE = {
    "province": ("Cao Văn Trọng", PROVINCE, "ubndt", Role.PROVINCIAL_ADMIN),
    "monitor": ("Phạm Thu Hà", DEPARTMENT, "stttt", Role.DEPARTMENT_MONITOR),
    "admin_a": ("Lê Minh Tâm", A, "xachauthanh", Role.UNIT_ADMIN),
    "clerk_a": ("Trần Thị Lan", A, "xachauthanh", Role.CLERK),
    "officer_a": ("Ngô Văn Sơn", A, "xachauthanh", Role.OFFICER),
    "admin_b": ("Đặng Văn Bình", B, "xamocay", Role.UNIT_ADMIN),
    "clerk_b": ("Võ Thị Hồng", B, "xamocay", Role.CLERK),
}
NEW_PASSWORD = "một mật khẩu đủ dài 2026"


@dataclasses.dataclass
class Site:
    url: str
    conn: asyncpg.Connection
    accounts: dict[str, Account]
    passwords: dict[str, str]
    clock: Clock


@pytest.fixture
async def site(settings: Settings, services: Endpoints) -> AsyncIterator[Site]:
    assert services.owner_database_url is not None
    dsn = services.owner_database_url.reveal()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await database.connect(dsn)
    await database.migrate(admin, schema=schema)
    conn = await database.connect(dsn, schema=schema)
    clock = Clock()
    try:
        await conn.executemany(
            "INSERT INTO units (organ_id, name, level, parent) VALUES ($1, $2, $3, $4)", UNITS
        )
        made, passwords = {}, {}
        for key, (name, unit, abbreviation, role) in PEOPLE.items():
            made[key], passwords[key] = await store.create(
                conn, full_name=name, unit=unit, abbreviation=abbreviation, role=role,
                actor="test", now=clock(), hasher=CHEAP,
            )  # fmt: skip
        local = dataclasses.replace(settings, database_schema=schema)
        assert services.console_database_url is not None  # the console runs as its own role
        console_dsn = services.console_database_url.reveal()
        async with Console(local, console_dsn, port=0, clock=clock) as console:
            yield Site(console.url, conn, made, passwords, clock)
    finally:
        await conn.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def _client(site: Site) -> aiohttp.ClientSession:
    return browserless.client(site.url)


async def _token(http: aiohttp.ClientSession, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', await (await http.get(url)).text())
    assert found is not None
    return found[1]


def _session_cookie(http: aiohttp.ClientSession) -> str:
    return next(c for c in http.cookie_jar if c.key == sessions.COOKIE).value


async def _log_in(
    http: aiohttp.ClientSession, site: Site, who: str, *, change: bool = True
) -> None:
    """Log in as `who` and, unless told not to, make the forced password change (the
    first login's)."""
    token = await _token(http, f"{site.url}/login")
    answer = await http.post(
        f"{site.url}/login",
        data={"csrf": token, "username": site.accounts[who].username,
              "password": site.passwords[who]},
    )  # fmt: skip
    if site.passwords[who] == NEW_PASSWORD:
        assert answer.url.path == "/"
        return
    assert answer.url.path == "/password"
    if not change:
        return
    token = await _token(http, f"{site.url}/password")
    answer = await http.post(
        f"{site.url}/password",
        data={"csrf": token, "current": site.passwords[who], "new": NEW_PASSWORD,
              "repeat": NEW_PASSWORD},
    )  # fmt: skip
    assert answer.url.path == "/"
    site.passwords[who] = NEW_PASSWORD


def _pages(site: Site) -> dict[str, dict[str, int]]:
    """Every page (a GET of each route) and the status each role gets; 200 unless named."""
    nobody = str(uuid.uuid4())
    admins = {"province", "admin_a", "admin_b"}
    department = {"province", "monitor"}
    readers_of_a = {"province", "monitor", "admin_a", "clerk_a", "officer_a"}
    everyone = set(PEOPLE)

    def only(allowed: set[str], refused: int = 403) -> dict[str, int]:
        return {who: 200 if who in allowed else refused for who in everyone}

    clerk_a = site.accounts["clerk_a"].username
    return {
        "/": only(everyone),
        "/registers": only(everyone),
        f"/registers/{A}/incoming?subject=x&year=2026&quarter=1": only(readers_of_a),
        f"/registers/{A}/outgoing?party=B": only(readers_of_a),
        f"/registers/{A}/incoming/export.pdf?year=2026&quarter=1": only(readers_of_a),
        f"/registers/{A}/outgoing/export.csv?year=2026&quarter=1": only(readers_of_a),
        f"/documents/{nobody}": only(set()),
        "/directory?q=chau&level=commune": only(everyone),
        f"/directory/{A}": only(everyone),
        "/accounts?q=t": only(admins),
        "/accounts/new": only(admins),
        f"/accounts/{clerk_a}": only({"province", "admin_a"}),
        "/audit?from=2026-01-01&to=2026-12-31": only(admins),
        "/monitor/dashboard": only(department),
        "/monitor/overdue": only(department),
        "/monitor/report?from=2026-01-01&to=2026-03-31": only(department),
        "/monitor/report.pdf": only(department),
        "/review": only({"province"}),
        "/review?state=rejected": only({"province"}),
        f"/review/{nobody}": {**only(set()), "province": 404},
        "/dead-letters?since=2026-01-01&until=2026-02-01": only({"province"}),
        "/dead-letters/1": {**only(set()), "province": 404},
        "/password": only(everyone),
    }


async def test_every_page_answers_every_role_in_both_languages(site: Site) -> None:
    """No page is a 500 for anyone, in Vietnamese or English, and each role is refused
    (403) exactly the pages beyond it; an anonymous visitor is sent to the login page."""
    pages = _pages(site)
    wrong: list[str] = []
    async with _client(site) as anonymous:
        for path in pages:
            answer = await anonymous.get(f"{site.url}{path}", allow_redirects=False)
            if answer.status != 303 or not answer.headers["location"].startswith("/login?next="):
                wrong.append(f"anonymous {path}: {answer.status}")
    for who in PEOPLE:
        async with _client(site) as http:
            await _log_in(http, site, who)
            for lang in ("vi", "en"):
                http.cookie_jar.update_cookies({"lienthong_lang": lang})
                for path, expected in pages.items():
                    answer = await http.get(f"{site.url}{path}")
                    if answer.status != expected[who]:
                        wrong.append(f"{who} {lang} {path}: {answer.status}, not {expected[who]}")
    assert wrong == []


async def _post(http: aiohttp.ClientSession, site: Site, path: str, **fields: str) -> int:
    token = await _token(http, f"{site.url}/")
    answer = await http.post(f"{site.url}{path}", data={"csrf": token, **fields})
    return answer.status


async def test_a_unit_admin_acts_on_no_account_beyond_its_unit(site: Site) -> None:
    """Forged forms of the admin of A: B's accounts, a role it may not give, its own
    account; each refused (403) and nothing changed."""
    clerk_b, monitor = site.accounts["clerk_b"].username, site.accounts["monitor"].username
    admin_a = site.accounts["admin_a"].username
    async with _client(site) as http:
        await _log_in(http, site, "admin_a")
        for target in (clerk_b, monitor, admin_a):
            assert await _post(http, site, f"/accounts/{target}/lock", reason="x") == 403
            assert await _post(http, site, f"/accounts/{target}/reset") == 403
        assert await _post(http, site, f"/accounts/{clerk_b}/unlock") == 403
        for unit, role in ((B, "clerk"), (A, "provincial_admin"), (A, "department_monitor")):
            status = await _post(
                http, site, "/accounts/new", full_name="Nguyễn Văn An", unit=unit,
                abbreviation="", role=role,
            )  # fmt: skip
            assert status == 403, (unit, role)
    async with _client(site) as http:
        await _log_in(http, site, "clerk_a")
        assert await _post(http, site, "/accounts/new", full_name="Nguyễn Văn An", unit=A,
                           abbreviation="", role="clerk") == 403  # fmt: skip
    locked = await site.conn.fetchval("SELECT count(*) FROM accounts WHERE locked_at IS NOT NULL")
    created = await site.conn.fetchval("SELECT count(*) FROM accounts")
    resets = await site.conn.fetchval(
        "SELECT count(*) FROM account_events WHERE event = 'password_reset'"
    )
    assert (locked, created, resets) == (0, len(PEOPLE), 0)


async def test_a_reset_or_a_lock_ends_the_accounts_sessions(site: Site) -> None:
    clerk_a = site.accounts["clerk_a"].username
    async with _client(site) as admin, _client(site) as clerk:
        await _log_in(admin, site, "admin_a")
        await _log_in(clerk, site, "clerk_a")
        assert (await clerk.get(f"{site.url}/")).url.path == "/"
        assert await _post(admin, site, f"/accounts/{clerk_a}/reset") == 200
        assert (await clerk.get(f"{site.url}/")).url.path == "/login"
    async with _client(site) as admin, _client(site) as officer:
        await _log_in(admin, site, "admin_a")
        await _log_in(officer, site, "officer_a")
        officer_a = site.accounts["officer_a"].username
        assert await _post(admin, site, f"/accounts/{officer_a}/lock", reason="máy bị mất") == 200
        assert (await officer.get(f"{site.url}/")).url.path == "/login"


async def test_a_login_token_of_any_letters_is_refused_not_a_crash(site: Site) -> None:
    """hmac.compare_digest refuses non-ASCII text: such a token used to be a 500."""
    async with _client(site) as http:
        await _token(http, f"{site.url}/login")
        answer = await http.post(
            f"{site.url}/login",
            data={"csrf": "mã-thông-báo", "username": "x.y", "password": "z"},
        )
        assert answer.status == 403
        assert 'data-reason="csrf_invalid"' in await answer.text()


async def test_an_account_that_must_change_its_password_may_still_log_out(site: Site) -> None:
    async with _client(site) as http:
        await _log_in(http, site, "clerk_a", change=False)
        token = await _token(http, f"{site.url}/password")
        answer = await http.post(f"{site.url}/logout", data={"csrf": token})
        assert answer.status == 200
        assert answer.url.path == "/login"
    assert await site.conn.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_a_password_change_replaces_this_browsers_session_too(site: Site) -> None:
    """A cookie stolen before the change is worth nothing after it, even the cookie of the
    browser that made the change (the new session has a new cookie and a new CSRF token)."""
    async with _client(site) as http:
        await _log_in(http, site, "clerk_a", change=False)
        before = _session_cookie(http)
        token = await _token(http, f"{site.url}/password")
        await http.post(
            f"{site.url}/password",
            data={"csrf": token, "current": site.passwords["clerk_a"], "new": NEW_PASSWORD,
                  "repeat": NEW_PASSWORD},
        )  # fmt: skip
        after = _session_cookie(http)
        assert after != before
        assert (await http.get(f"{site.url}/")).url.path == "/"
        assert await _token(http, f"{site.url}/") != token
    async with _client(site) as thief:
        thief.cookie_jar.update_cookies({sessions.COOKIE: before})
        assert (await thief.get(f"{site.url}/")).url.path == "/login"


async def test_logins_behind_the_proxy_are_limited_per_client(site: Site) -> None:
    """Behind the reverse proxy every login comes from the proxy's address: the client's
    is its X-Forwarded-For, or one guesser would lock everybody out for a minute."""
    async with _client(site) as http:
        token = await _token(http, f"{site.url}/login")
        statuses = []
        for n in range(auth.PER_CLIENT.amount + 1):
            answer = await http.post(
                f"{site.url}/login", headers={"x-forwarded-for": "203.0.113.7"},
                data={"csrf": token, "username": f"guess{n}.xamocay", "password": "wrong"},
            )  # fmt: skip
            statuses.append(answer.status)
        assert statuses[-1] == 429
        other = await http.post(
            f"{site.url}/login", headers={"x-forwarded-for": "198.51.100.20"},
            data={"csrf": token, "username": "another.xamocay", "password": "wrong"},
        )  # fmt: skip
        assert other.status == 403
        assert 'data-reason="login_failed"' in await other.text()


async def test_one_ipv6_subscriber_is_one_client(site: Site) -> None:
    """A /64 is one subscriber's: changing the last 64 bits at each guess used to make each
    guess a new client."""
    async with _client(site) as http:
        token = await _token(http, f"{site.url}/login")
        statuses = []
        for n in range(auth.PER_CLIENT.amount + 1):
            answer = await http.post(
                f"{site.url}/login", headers={"x-forwarded-for": f"2001:db8:7:1::{n + 1:x}"},
                data={"csrf": token, "username": f"guess{n}.xamocay", "password": "wrong"},
            )  # fmt: skip
            statuses.append(answer.status)
        assert statuses[-1] == 429


async def test_a_login_through_the_tls_proxy_is_accepted(site: Site) -> None:
    """The browser's Origin is https://…, the console hears http: the login used to be
    refused as a cross-site form, so no one could log in behind the proxy."""
    host = site.url.removeprefix("http://")
    async with _client(site) as http:
        token = await _token(http, f"{site.url}/login")
        answer = await http.post(
            f"{site.url}/login", headers={"origin": f"https://{host}"},
            data={"csrf": token, "username": site.accounts["clerk_a"].username,
                  "password": site.passwords["clerk_a"]},
        )  # fmt: skip
        assert answer.url.path == "/password"
        refused = await http.post(
            f"{site.url}/logout", headers={"origin": "https://evil.example"},
            data={"csrf": await _token(http, f"{site.url}/password")},
        )  # fmt: skip
        assert refused.status == 403


async def test_a_login_ends_the_session_the_browser_held_before(site: Site) -> None:
    """At a shared desk, the next user's login leaves nothing of the previous one's."""
    async with _client(site) as http:
        await _log_in(http, site, "clerk_a")
        before = _session_cookie(http)
        await _log_in(http, site, "clerk_b")
        assert _session_cookie(http) != before
    assert await site.conn.fetchval("SELECT count(*) FROM console_sessions") == 1
    async with _client(site) as thief:
        thief.cookie_jar.update_cookies({sessions.COOKIE: before})
        assert (await thief.get(f"{site.url}/")).url.path == "/login"


async def test_sessions_that_ended_unseen_are_not_kept(site: Site) -> None:
    """A session nobody presents again used to stay in the table for ever."""
    async with _client(site) as http:
        await _log_in(http, site, "clerk_a")
    site.clock.offset = sessions.IDLE + datetime.timedelta(seconds=1)
    async with _client(site) as http:
        await _log_in(http, site, "clerk_b")
    names = await site.conn.fetch("SELECT username FROM console_sessions")
    assert [row["username"] for row in names] == [site.accounts["clerk_b"].username]
