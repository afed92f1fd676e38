"""The console's sessions, kept in PostgreSQL (kernel/migrations/0021_console_sessions.sql).

A session lives on the server so that ending it works at once: a logout, a password change
or a lock (the Article 7 job's included, since a session of a locked account is refused on
its next request) leaves a cookie worth nothing. The cookie holds 256 random bits; the table
holds their SHA-256, so reading the table opens no session. Each session carries its CSRF
synchronizer token, which every form sends back (console.guard).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import secrets
from typing import TypeGuard

from console.accounts import Account
from console.store import get as get_account
from kernel.database import Connection

COOKIE = "lienthong_session"
LOGIN_COOKIE = "lienthong_login"
"""Before a session exists the login form's CSRF token is a double-submit cookie."""
IDLE = datetime.timedelta(minutes=30)
"""A session nobody used for this long has ended (an unattended office computer)."""
LIFETIME = datetime.timedelta(hours=10)
"""No session outlives a working day, however busy."""
SEEN_EVERY = datetime.timedelta(minutes=1)
"""`seen_at` is written at most this often: a page view need not be a database write."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    account: Account
    csrf: str
    created_at: datetime.datetime


def new_token() -> str:
    """256 random bits, URL-safe: a session cookie, a CSRF token or a login cookie."""
    return secrets.token_urlsafe(32)


def well_formed(token: str | None) -> TypeGuard[str]:
    return token is not None and _TOKEN.fullmatch(token) is not None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


async def open_session(
    conn: Connection, account: Account, *, now: datetime.datetime, client: str
) -> tuple[str, Session]:
    """A new session for `account` and the cookie value that names it (shown only here).
    Sessions that ended unseen (idle, too old) are deleted on the way, so that the table
    holds live sessions only, however many logins there were."""
    await conn.execute(
        "DELETE FROM console_sessions WHERE seen_at < $1 OR created_at < $2",
        now - IDLE,
        now - LIFETIME,
    )
    token, csrf = new_token(), new_token()
    await conn.execute(
        "INSERT INTO console_sessions (token_sha256, username, csrf, created_at, seen_at, client)"
        " VALUES ($1, $2, $3, $4, $4, $5)",
        _digest(token),
        account.username,
        csrf,
        now,
        client[:200],
    )
    return token, Session(account, csrf, now)


async def find(conn: Connection, token: str | None, *, now: datetime.datetime) -> Session | None:
    """The live session `token` names, or None: unknown, idle, too old, or its account
    locked (each of those is deleted on the way)."""
    if not well_formed(token):
        return None
    digest = _digest(token)
    row = await conn.fetchrow(
        "SELECT username, csrf, created_at, seen_at FROM console_sessions WHERE token_sha256 = $1",
        digest,
    )
    if row is None:
        return None
    account = await get_account(conn, row["username"])
    expired = now - row["seen_at"] > IDLE or now - row["created_at"] > LIFETIME
    if account is None or account.locked or expired:
        await conn.execute("DELETE FROM console_sessions WHERE token_sha256 = $1", digest)
        return None
    if now - row["seen_at"] > SEEN_EVERY:
        await conn.execute(
            "UPDATE console_sessions SET seen_at = $2 WHERE token_sha256 = $1", digest, now
        )
    return Session(account, row["csrf"], row["created_at"])


async def close(conn: Connection, token: str | None) -> None:
    if well_formed(token):
        await conn.execute("DELETE FROM console_sessions WHERE token_sha256 = $1", _digest(token))


async def close_others(conn: Connection, username: str, keep: str | None) -> None:
    """Every session of `username` but `keep`'s: after a password change, whoever held the
    old password holds no session either."""
    await conn.execute(
        "DELETE FROM console_sessions WHERE username = $1 AND token_sha256 <> $2",
        username,
        _digest(keep) if well_formed(keep) else b"",
    )
