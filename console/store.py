"""Accounts in PostgreSQL (kernel/migrations/0020_accounts.sql), every change audited.

The rules are console.accounts'; this module reads a row, applies a rule and writes the row
and an `account_events` line in one transaction. An actor is an `Account` (a console user,
whose unit and role scope what it may do) or a plain name (an operator at the command
line, who holds the owner's database role and so every power anyway).

Times are passed in, not read from the clock, so the locking rules can be tested by moving
the clock.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import asyncpg
from argon2 import PasswordHasher

from broker.directory.model import check_organ_id
from console import accounts
from console.accounts import HASHER, Account, LockReason, Login, Role
from kernel.database import Connection
from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode

Actor = str | Account
_COLUMNS = (
    "username, full_name, unit, role, issued_at, last_login_at, must_change_password,"
    " failed_logins, locked_at, lock_reason, unlocked_at"
)
_INSERTED = "username, full_name, unit, unit_abbreviation, role, issued_at, issued_by"


def _account(row: asyncpg.Record) -> Account:
    return Account(
        username=row["username"],
        full_name=row["full_name"],
        unit=row["unit"],
        role=Role(row["role"]),
        issued_at=row["issued_at"],
        last_login_at=row["last_login_at"],
        must_change_password=row["must_change_password"],
        failed_logins=row["failed_logins"],
        locked_at=row["locked_at"],
        lock_reason=LockReason(row["lock_reason"]) if row["lock_reason"] else None,
        unlocked_at=row["unlocked_at"],
    )


def _name(actor: Actor) -> str:
    return actor.username if isinstance(actor, Account) else actor


async def _event(
    conn: Connection,
    at: datetime.datetime,
    username: str,
    actor: Actor,
    event: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO account_events (at, username, actor, event, reason, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        at,
        username,
        _name(actor),
        event,
        reason,
        json.dumps(detail or {}, ensure_ascii=False),
    )


async def record_act(
    conn: Connection,
    actor: Account,
    act: str,
    *,
    now: datetime.datetime,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit an act done at the console (a review decision, a replay, an export): written
    to `account_events` under the actor's own name, in the caller's transaction."""
    await _event(conn, now, actor.username, actor, act, reason, detail)


async def _save(conn: Connection, account: Account) -> None:
    """Write what the rules change: logins, the failure count, locks."""
    await conn.execute(
        "UPDATE accounts SET last_login_at = $2, must_change_password = $3, failed_logins = $4,"
        " locked_at = $5, lock_reason = $6, unlocked_at = $7 WHERE username = $1",
        account.username,
        account.last_login_at,
        account.must_change_password,
        account.failed_logins,
        account.locked_at,
        account.lock_reason,
        account.unlocked_at,
    )


async def parents(conn: Connection) -> dict[str, str | None]:
    """The directory tree as unit → parent, which scopes every role."""
    rows = await conn.fetch("SELECT organ_id, parent FROM units")
    return {row["organ_id"]: row["parent"] for row in rows}


async def _in_scope(conn: Connection, actor: Actor, unit: str, role: Role, what: str) -> None:
    if isinstance(actor, Account):
        accounts.require(
            accounts.may_administer(actor, unit, role, await parents(conn)), actor, what
        )


async def get(conn: Connection, username: str) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM accounts WHERE username = $1",  # noqa: S608 (constants)
        username,
    )
    return _account(row) if row is not None else None


async def _for_update(conn: Connection, username: str) -> Account:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM accounts WHERE username = $1 FOR UPDATE",  # noqa: S608
        username,
    )
    if row is None:
        raise Rejected(ReasonCode.ACCOUNT_UNKNOWN, f"there is no account {username!r}")
    return _account(row)


async def create(
    conn: Connection,
    *,
    full_name: str,
    unit: str,
    abbreviation: str,
    role: Role,
    actor: Actor,
    now: datetime.datetime,
    hasher: PasswordHasher = HASHER,
) -> tuple[Account, str]:
    """A new account and its one-time password, which exists only in the return value and
    must be changed at the first login (Article 9.2(b)).

    A unit has one abbreviation and an abbreviation one unit, so that user names, which
    end in it, never collide across units.
    """
    check_organ_id(unit)
    accounts.check_abbreviation(abbreviation)
    name = accounts.clean_name(full_name)
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM units WHERE organ_id = $1", unit):
            raise Rejected(ReasonCode.UNIT_UNKNOWN, f"{unit} is not in the directory")
        await _in_scope(conn, actor, unit, role, f"create a {role} account at {unit}")
        # One creation at a time: the sequence number depends on every name already taken.
        await conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
        clash = await conn.fetchrow(
            "SELECT unit, unit_abbreviation FROM accounts WHERE (unit = $1) <> "
            "(unit_abbreviation = $2) LIMIT 1",
            unit,
            abbreviation,
        )
        if clash is not None:
            raise Rejected(
                ReasonCode.UNIT_ABBREVIATION_INVALID,
                f"{clash['unit']} is abbreviated {clash['unit_abbreviation']!r}; "
                f"{unit} cannot be {abbreviation!r}",
            )
        taken = {
            row["username"]
            for row in await conn.fetch(
                "SELECT username FROM accounts WHERE unit_abbreviation = $1", abbreviation
            )
        }
        username = accounts.username_for(name, abbreviation, taken)
        password = accounts.one_time_password(username)
        row = await conn.fetchrow(
            f"INSERT INTO accounts ({_INSERTED}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608
            f" RETURNING {_COLUMNS}",
            username,
            name,
            unit,
            abbreviation,
            role,
            now,
            _name(actor),
        )
        assert row is not None  # INSERT … RETURNING always returns the row
        await conn.execute(
            "INSERT INTO account_passwords (username, hash, changed_at) VALUES ($1, $2, $3)",
            username,
            accounts.hash_password(password, hasher),
            now,
        )
        await _event(conn, now, username, actor, "create", detail={"role": role, "unit": unit})
    return _account(row), password


async def _attempt(
    conn: Connection,
    username: str,
    password: str,
    now: datetime.datetime,
    hasher: PasswordHasher,
) -> Login | None:
    """Judge and record a password presented for `username` (in the caller's transaction);
    None for an unknown user name. A locked account's password is not even checked."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, hash FROM accounts JOIN account_passwords USING (username)"  # noqa: S608
        " WHERE username = $1 FOR UPDATE",
        username,
    )
    if row is None:
        # As long as a wrong password takes: the answer does not tell which names exist.
        accounts.hash_password(password, hasher)
        return None
    before = _account(row)
    ok = (
        not before.locked
        and accounts.lock_due(before, now) is None
        and accounts.password_matches(row["hash"], password, hasher)
    )
    outcome = accounts.login(before, ok, now)
    after = outcome.account
    await _save(conn, after)
    if outcome.ok:
        await _event(conn, now, username, username, "login")
        if hasher.check_needs_rehash(row["hash"]):
            await conn.execute(
                "UPDATE account_passwords SET hash = $2 WHERE username = $1",
                username,
                accounts.hash_password(password, hasher),
            )
    else:  # a locked account's attempts too: they may be a take-over going on
        await _event(conn, now, username, username, "login_failed", outcome.refused)
    if after.lock_reason is not None and not before.locked:
        await _event(conn, now, username, "lienthong", "lock", after.lock_reason)
    return outcome


def _refuse(outcome: Login | None) -> Account:
    if outcome is None:
        raise AccessDenied(ReasonCode.LOGIN_FAILED, "the user name or the password is wrong")
    if outcome.refused is ReasonCode.ACCOUNT_LOCKED:
        raise AccessDenied(
            ReasonCode.ACCOUNT_LOCKED,
            f"{outcome.account.username} is locked ({outcome.account.lock_reason})",
            hint="a unit administrator can unlock it",
        )
    if outcome.refused is not None:
        raise AccessDenied(outcome.refused, "the user name or the password is wrong")
    return outcome.account


async def login(
    conn: Connection,
    username: str,
    password: str,
    *,
    now: datetime.datetime,
    hasher: PasswordHasher = HASHER,
) -> Account:
    """The account logged in, or AccessDenied (LOGIN_FAILED, ACCOUNT_LOCKED). When the
    account's `must_change_password` holds, the console asks for a new one before anything
    else (Article 9.2(b))."""
    async with conn.transaction():
        outcome = await _attempt(conn, username, password, now, hasher)
    return _refuse(outcome)


async def change_password(
    conn: Connection,
    username: str,
    current: str,
    new: str,
    *,
    now: datetime.datetime,
    hasher: PasswordHasher = HASHER,
) -> Account:
    """Replace the password, proven by the current one (a wrong one counts as a failed
    login); the forced change of the first login is then done."""
    accounts.check_password(new, username)
    if new == current:
        raise Rejected(ReasonCode.PASSWORD_TOO_WEAK, "the new password is the current one")
    async with conn.transaction():
        outcome = await _attempt(conn, username, current, now, hasher)
    account = _refuse(outcome)
    async with conn.transaction():
        await conn.execute(
            "UPDATE account_passwords SET hash = $2, changed_at = $3 WHERE username = $1",
            username,
            accounts.hash_password(new, hasher),
            now,
        )
        await conn.execute(
            "UPDATE accounts SET must_change_password = false WHERE username = $1", username
        )
        await _event(conn, now, username, username, "password_change")
    return dataclasses.replace(account, must_change_password=False)


async def reset_password(
    conn: Connection,
    username: str,
    *,
    actor: Actor,
    now: datetime.datetime,
    hasher: PasswordHasher = HASHER,
) -> str:
    """Password recovery (Article 11): a new one-time password, to be changed at the next
    login. A locked account stays locked."""
    async with conn.transaction():
        account = await _for_update(conn, username)
        await _in_scope(conn, actor, account.unit, account.role, f"reset {username}'s password")
        password = accounts.one_time_password(username)
        await conn.execute(
            "UPDATE account_passwords SET hash = $2, changed_at = $3 WHERE username = $1",
            username,
            accounts.hash_password(password, hasher),
            now,
        )
        await conn.execute(
            "UPDATE accounts SET must_change_password = true WHERE username = $1", username
        )
        await _event(conn, now, username, actor, "password_reset")
    return password


async def lock(
    conn: Connection, username: str, *, actor: Actor, now: datetime.datetime, note: str = ""
) -> Account:
    """Lock by an administrator's decision (Article 7.3, 7.4); a locked account stays as it
    is, with its first reason."""
    async with conn.transaction():
        account = await _for_update(conn, username)
        await _in_scope(conn, actor, account.unit, account.role, f"lock {username}")
        if account.locked:
            return account
        account = accounts.locked(account, LockReason.MANUAL, now)
        await _save(conn, account)
        await _event(conn, now, username, actor, "lock", LockReason.MANUAL, {"note": note})
    return account


async def unlock(
    conn: Connection, username: str, *, actor: Actor, now: datetime.datetime, note: str = ""
) -> Account:
    """Unlock, clearing the failure count and restarting Article 7's clocks."""
    async with conn.transaction():
        account = await _for_update(conn, username)
        await _in_scope(conn, actor, account.unit, account.role, f"unlock {username}")
        if not account.locked:
            return account
        reason = account.lock_reason
        account = accounts.unlocked(account, now)
        await _save(conn, account)
        await _event(conn, now, username, actor, "unlock", reason, {"note": note})
    return account


async def lock_due(
    conn: Connection, *, actor: Actor, now: datetime.datetime
) -> list[tuple[Account, LockReason]]:
    """The locking job (Articles 7.1, 7.2): lock every account due at `now`, each with its
    reason recorded; returns what it locked."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM accounts WHERE locked_at IS NULL"  # noqa: S608 (constants)
            " ORDER BY username FOR UPDATE"
        )
        due = accounts.locks_due(map(_account, rows), now)
        for account, reason in due:
            await _save(conn, accounts.locked(account, reason, now))
            await _event(conn, now, account.username, actor, "lock", reason)
    return [(accounts.locked(account, reason, now), reason) for account, reason in due]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An `account_events` line: on whose account, by whom, what, why and when."""

    id: int
    at: datetime.datetime
    username: str
    actor: str
    event: str
    reason: str | None
    detail: dict[str, Any]


async def in_units(
    conn: Connection, units: list[str], *, search: str = "", limit: int, offset: int
) -> tuple[list[Account], int]:
    """The accounts at `units` (an administrator's scope), a page of them in user-name order
    and how many there are; `search` is part of a user name or of a full name."""
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = "unit = ANY($1::text[]) AND (username ILIKE $2 OR full_name ILIKE $2)"
    total = await conn.fetchval(
        f"SELECT count(*) FROM accounts WHERE {where}",  # noqa: S608 (constants)
        units,
        pattern,
    )
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM accounts WHERE {where}"  # noqa: S608 (constants)
        " ORDER BY username LIMIT $3 OFFSET $4",
        units,
        pattern,
        limit,
        offset,
    )
    return [_account(row) for row in rows], int(total)


async def abbreviations(conn: Connection, units: list[str]) -> dict[str, str]:
    """Each of `units` that has accounts, with its abbreviation (one per unit, see create)."""
    rows = await conn.fetch(
        "SELECT DISTINCT unit, unit_abbreviation FROM accounts WHERE unit = ANY($1::text[])",
        units,
    )
    return {row["unit"]: row["unit_abbreviation"] for row in rows}


def _detail(text: str) -> dict[str, Any]:
    """An event's detail; the store writes objects, anything else is shown as one value."""
    detail = json.loads(text)
    return detail if isinstance(detail, dict) else {"detail": detail}


async def events(
    conn: Connection,
    units: list[str],
    *,
    user: str = "",
    since: datetime.datetime | None = None,
    before: datetime.datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Event], int]:
    """The events on accounts at `units`, newest first, a page of them and how many there
    are: those `user` underwent or did (all when empty), at `since` or later, before
    `before`."""
    where = (
        "a.unit = ANY($1::text[]) AND ($2 = '' OR e.username = $2 OR e.actor = $2)"
        " AND ($3::timestamptz IS NULL OR e.at >= $3)"
        " AND ($4::timestamptz IS NULL OR e.at < $4)"
    )
    source = "account_events e JOIN accounts a USING (username)"
    total = await conn.fetchval(
        f"SELECT count(*) FROM {source} WHERE {where}",  # noqa: S608 (constants)
        units,
        user,
        since,
        before,
    )
    rows = await conn.fetch(
        f"SELECT e.id, e.at, e.username, e.actor, e.event, e.reason, e.detail"  # noqa: S608
        f" FROM {source} WHERE {where} ORDER BY e.at DESC, e.id DESC LIMIT $5 OFFSET $6",
        units,
        user,
        since,
        before,
        limit,
        offset,
    )
    return [
        Event(
            id=row["id"],
            at=row["at"],
            username=row["username"],
            actor=row["actor"],
            event=row["event"],
            reason=row["reason"],
            detail=_detail(row["detail"]),
        )
        for row in rows
    ], int(total)
