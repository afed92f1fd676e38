"""The console's perimeter over plain HTTP, as a hostile client would try it: no browser, so
nothing the browser would add for us (Origin, SameSite) helps.

Each test gets a console on a schema of its own (migrated by lienthong_owner), with a
provincial administrator and a clerk whose one-time passwords are known.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from console import sessions, store
from console.accounts import Role
from console.server import Console
from console.views import auth
from kernel import database
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from tests import browserless
from tests.clock import Clock

pytestmark = pytest.mark.postgres

PROVINCE = "000.00.00.H62"
PASSWORD = "một mật khẩu đủ dài 2026"


@dataclasses.dataclass
class Site:
    url: str
    conn: asyncpg.Connection
    clock: Clock
    username: str
    password: str


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
        await conn.execute(
            "INSERT INTO units (organ_id, name, level) VALUES ($1, 'UBND tỉnh', 'province')",
            PROVINCE,
        )
        account, password = await store.create(
            conn, full_name="Cao Văn Trọng", unit=PROVINCE, abbreviation="ubndt",
            role=Role.PROVINCIAL_ADMIN, actor="test", now=clock(),
        )  # fmt: skip
        local = dataclasses.replace(settings, database_schema=schema)
        assert services.console_database_url is not None  # the console runs as its own role
        console_dsn = services.console_database_url.reveal()
        async with Console(local, console_dsn, port=0, clock=clock) as console:
            yield Site(console.url, conn, clock, account.username, password)
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


async def _logged_in(http: aiohttp.ClientSession, site: Site) -> None:
    """Log in and make the forced password change, as the first login must."""
    token = await _token(http, f"{site.url}/login")
    answer = await http.post(
        f"{site.url}/login",
        data={"csrf": token, "username": site.username, "password": site.password},
    )
    assert answer.url.path == "/password"
    token = await _token(http, f"{site.url}/password")
    answer = await http.post(
        f"{site.url}/password",
        data={"csrf": token, "current": site.password, "new": PASSWORD, "repeat": PASSWORD},
    )
    assert answer.url.path == "/"
    site.password = PASSWORD


async def test_another_host_name_is_refused(site: Site) -> None:
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 reaches nothing."""
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{site.url}/login", headers={"Host": "evil.example"})
        assert answer.status == 421
        assert "host_forbidden" in await answer.text()


async def test_every_page_carries_the_security_headers(site: Site) -> None:
    async with _client(site) as http:
        answer = await http.get(f"{site.url}/login")
    assert answer.status == 200
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    cookie = answer.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict"):
        assert attribute.lower() in cookie.lower()


async def test_a_body_over_the_limit_is_refused_unread(site: Site) -> None:
    async with _client(site) as http:
        answer = await http.post(f"{site.url}/login", data=io.BytesIO(b"x" * (2 * 1024 * 1024)))
        assert answer.status == 413
        chunked = await http.post(
            f"{site.url}/login", data=_chunks(2 * 1024 * 1024), chunked=True,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert chunked.status == 413


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 65536):
        yield b"a" * 65536


async def test_a_login_without_its_token_is_refused(site: Site) -> None:
    async with _client(site) as http:
        await http.get(f"{site.url}/login")
        answer = await http.post(
            f"{site.url}/login", data={"username": site.username, "password": site.password}
        )
        assert answer.status == 403
        assert 'data-reason="csrf_invalid"' in await answer.text()


async def test_logins_are_rate_limited_per_user_name(site: Site) -> None:
    async with _client(site) as http:
        token = await _token(http, f"{site.url}/login")
        statuses = []
        for _ in range(auth.PER_USER.amount + 1):
            answer = await http.post(
                f"{site.url}/login",
                data={"csrf": token, "username": "nobody.ubndt", "password": "wrong"},
            )
            statuses.append(answer.status)
        assert statuses[:-1] == [403] * auth.PER_USER.amount
        assert statuses[-1] == 429
        assert 'data-reason="login_rate_limited"' in await answer.text()


async def test_the_session_cookie_is_stored_only_as_its_hash(site: Site) -> None:
    async with _client(site) as http:
        await _logged_in(http, site)
        cookie = next(c for c in http.cookie_jar if c.key == sessions.COOKIE).value
    rows = await site.conn.fetch("SELECT token_sha256 FROM console_sessions")
    assert [row["token_sha256"] for row in rows] == [hashlib.sha256(cookie.encode()).digest()]


async def test_an_idle_session_ends(site: Site) -> None:
    async with _client(site) as http:
        await _logged_in(http, site)
        site.clock.offset = sessions.IDLE + datetime.timedelta(seconds=1)
        answer = await http.get(f"{site.url}/")
        assert answer.url.path == "/login"
        assert await site.conn.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_a_password_change_ends_the_other_sessions(site: Site) -> None:
    async with _client(site) as first, _client(site) as second:
        await _logged_in(first, site)
        token = await _token(second, f"{site.url}/login")
        await second.post(
            f"{site.url}/login",
            data={"csrf": token, "username": site.username, "password": PASSWORD},
        )
        assert (await second.get(f"{site.url}/")).url.path == "/"
        token = await _token(first, f"{site.url}/password")
        new = PASSWORD + " mới"
        await first.post(
            f"{site.url}/password",
            data={"csrf": token, "current": PASSWORD, "new": new, "repeat": new},
        )
        assert (await second.get(f"{site.url}/")).url.path == "/login"
        assert (await first.get(f"{site.url}/")).url.path == "/"


async def test_logging_in_never_sends_the_user_to_another_site(site: Site) -> None:
    async with _client(site) as http:
        await _logged_in(http, site)
        await http.post(f"{site.url}/logout", data={"csrf": await _token(http, f"{site.url}/")})
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            token = await _token(http, f"{site.url}/login")
            answer = await http.post(
                f"{site.url}/login", allow_redirects=False,
                data={"csrf": token, "username": site.username, "password": PASSWORD,
                      "next": target},
            )  # fmt: skip
            assert answer.status == 303
            assert answer.headers["location"] == "/"
            await http.post(f"{site.url}/logout", data={"csrf": await _token(http, f"{site.url}/")})


async def test_an_unknown_page_and_a_wrong_method_name_their_reason(site: Site) -> None:
    async with _client(site) as http:
        missing = await http.get(f"{site.url}/no/such/page")
        assert missing.status == 404
        assert 'data-reason="not_found"' in await missing.text()
        wrong = await http.put(f"{site.url}/login")
        assert wrong.status == 405
