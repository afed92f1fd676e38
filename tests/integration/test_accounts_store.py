"""Accounts in the real PostgreSQL: created, logged in, locked and audited, and the CLI.

Each test gets a schema migrated by lienthong_owner (as the devstack migrates), holding a
province, two districts and a commune of district A. Hashes use argon2's cheapest profile
here, except in the CLI, which hashes as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher, profiles

from console import store
from console.accounts import MAX_FAILED_LOGINS, Account, LockReason, Role
from kernel import database
from kernel.errors import AccessDenied, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Secret
from lienthong.devstack.stack import Endpoints

pytestmark = pytest.mark.postgres

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
NOW = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
PROVINCE, A, A1, B = "000.00.00.H62", "000.02.00.H62", "000.02.01.H62", "000.03.00.H62"
UNITS = [
    (PROVINCE, "UBND tỉnh Vĩnh Long", "province", None),
    (A, "UBND huyện Châu Thành", "district", PROVINCE),
    (A1, "UBND xã An Khánh", "commune", A),
    (B, "UBND huyện Mỏ Cày Nam", "district", PROVINCE),
]


@dataclasses.dataclass
class Db:
    schema: str
    owner: asyncpg.Connection
    reporting: asyncpg.Connection


def _url(secret: Secret | None) -> str:
    assert secret is not None, "the devstack made no DSN for this role"
    return secret.reveal()


@pytest.fixture
async def db(services: Endpoints) -> AsyncIterator[Db]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await database.connect(_url(services.owner_database_url))
    opened: list[asyncpg.Connection] = []
    try:
        await database.migrate(admin, schema=schema)
        for url in (services.owner_database_url, services.reporting_database_url):
            opened.append(await database.connect(_url(url), schema=schema))
        await opened[0].executemany(
            "INSERT INTO units (organ_id, name, level, parent) VALUES ($1, $2, $3, $4)", UNITS
        )
        yield Db(schema, *opened)
    finally:
        for conn in opened:
            await conn.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def _create(
    db: Db,
    name: str,
    unit: str = A,
    abbreviation: str = "ubndct",
    role: Role = Role.CLERK,
    actor: str | Account = "operator:test",
    now: datetime.datetime = NOW,
) -> tuple[Account, str]:
    return await store.create(
        db.owner,
        full_name=name,
        unit=unit,
        abbreviation=abbreviation,
        role=role,
        actor=actor,
        now=now,
        hasher=CHEAP,
    )


async def _events(db: Db, username: str) -> list[tuple[str, str, str | None]]:
    rows = await db.owner.fetch(
        "SELECT actor, event, reason FROM account_events WHERE username = $1 ORDER BY id",
        username,
    )
    return [(row["actor"], row["event"], row["reason"]) for row in rows]


async def test_names_are_numbered_and_every_creation_is_audited(db: Db) -> None:
    first, password = await _create(db, "Cao Văn Trọng")
    second, _ = await _create(db, "Cao  Văn  Trọng")
    third, _ = await _create(db, "Cù Văn Trọng")
    elsewhere, _ = await _create(db, "Cao Văn Trọng", unit=B, abbreviation="ubndmcn")
    assert [a.username for a in (first, second, third, elsewhere)] == [
        "cvtrong.ubndct", "cvtrong2.ubndct", "cvtrong3.ubndct", "cvtrong.ubndmcn",
    ]  # fmt: skip
    assert second.full_name == "Cao Văn Trọng"
    assert first.must_change_password
    stored = await db.owner.fetchval(
        "SELECT hash FROM account_passwords WHERE username = $1", first.username
    )
    assert stored.startswith("$argon2id$")
    assert password not in stored
    assert await _events(db, first.username) == [("operator:test", "create", None)]
    assert await store.get(db.owner, first.username) == first


async def test_a_unit_has_one_abbreviation_and_an_abbreviation_one_unit(db: Db) -> None:
    await _create(db, "Cao Văn Trọng")
    for unit, abbreviation in ((B, "ubndct"), (A, "ubndchauthanh")):
        with pytest.raises(Rejected) as caught:
            await _create(db, "Lê Văn Tám", unit=unit, abbreviation=abbreviation)
        assert caught.value.reason is ReasonCode.UNIT_ABBREVIATION_INVALID
    with pytest.raises(Rejected) as unknown:
        await _create(db, "Lê Văn Tám", unit="000.09.00.H62", abbreviation="ubndx")
    assert unknown.value.reason is ReasonCode.UNIT_UNKNOWN
    with pytest.raises(Rejected) as garbage:
        await _create(db, "Tám")
    assert garbage.value.reason is ReasonCode.ACCOUNT_NAME_INVALID
    assert await db.owner.fetchval("SELECT count(*) FROM accounts") == 1


async def test_first_login_then_the_forced_password_change(db: Db) -> None:
    account, password = await _create(db, "Đặng Thị Thu Hà")
    with pytest.raises(AccessDenied) as wrong:
        await store.login(db.owner, account.username, "not the password", now=NOW, hasher=CHEAP)
    assert wrong.value.reason is ReasonCode.LOGIN_FAILED
    with pytest.raises(AccessDenied) as nobody:
        await store.login(db.owner, "nobody.ubndct", password, now=NOW, hasher=CHEAP)
    assert nobody.value.reason is ReasonCode.LOGIN_FAILED

    logged = await store.login(db.owner, account.username, password, now=NOW, hasher=CHEAP)
    assert logged.must_change_password
    assert logged.failed_logins == 0
    with pytest.raises(Rejected) as weak:
        await store.change_password(
            db.owner, account.username, password, "ngắn quá", now=NOW, hasher=CHEAP
        )
    assert weak.value.reason is ReasonCode.PASSWORD_TOO_WEAK
    new = "sông Cổ Chiên mùa nước nổi"
    changed = await store.change_password(
        db.owner, account.username, password, new, now=NOW + DAY, hasher=CHEAP
    )
    assert not changed.must_change_password
    again = await store.login(db.owner, account.username, new, now=NOW + 2 * DAY, hasher=CHEAP)
    assert not again.must_change_password
    assert again.last_login_at == NOW + 2 * DAY
    with pytest.raises(AccessDenied):
        await store.login(db.owner, account.username, password, now=NOW + 2 * DAY, hasher=CHEAP)
    assert [e for _, e, _ in await _events(db, account.username)] == [
        "create", "login_failed", "login", "login", "password_change", "login", "login_failed",
    ]  # fmt: skip


async def test_repeated_failures_lock_until_an_admin_unlocks(db: Db) -> None:
    account, password = await _create(db, "Nguyễn Thị Minh Khai")
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AccessDenied):
            await store.login(
                db.owner, account.username, "guess-guess-guess", now=NOW, hasher=CHEAP
            )
    with pytest.raises(AccessDenied) as locked:
        await store.login(db.owner, account.username, password, now=NOW, hasher=CHEAP)
    assert locked.value.reason is ReasonCode.ACCOUNT_LOCKED
    found = await store.get(db.owner, account.username)
    assert found is not None
    assert found.lock_reason is LockReason.FAILED_LOGINS

    other_admin, _ = await _create(db, "Lê Văn Tám", unit=B, abbreviation="ubndmcn",
                                   role=Role.UNIT_ADMIN)  # fmt: skip
    with pytest.raises(AccessDenied) as forbidden:
        await store.unlock(db.owner, account.username, actor=other_admin, now=NOW)
    assert forbidden.value.reason is ReasonCode.ACCOUNT_SCOPE_FORBIDDEN
    admin, _ = await _create(db, "Trần Văn Ơn", role=Role.UNIT_ADMIN)
    await store.unlock(db.owner, account.username, actor=admin, now=NOW + DAY)
    back = await store.login(db.owner, account.username, password, now=NOW + DAY, hasher=CHEAP)
    assert back.failed_logins == 0
    events = await _events(db, account.username)
    assert ("lienthong", "lock", "failed_logins") in events
    assert (account.username, "login_failed", "account_locked") in events
    assert (admin.username, "unlock", "failed_logins") in events


async def test_the_locking_job_with_a_moved_clock(db: Db) -> None:
    never, _ = await _create(db, "Phạm Văn Đồng")
    idle, idle_password = await _create(db, "Võ Thị Sáu")
    busy, busy_password = await _create(db, "Hồ Tùng Mậu")
    await store.login(db.owner, idle.username, idle_password, now=NOW + DAY, hasher=CHEAP)
    await store.login(db.owner, busy.username, busy_password, now=NOW + DAY, hasher=CHEAP)

    assert await store.lock_due(db.owner, actor="job", now=NOW + 30 * DAY) == []
    first = await store.lock_due(db.owner, actor="job", now=NOW + 31 * DAY)
    assert [(a.username, r) for a, r in first] == [(never.username, LockReason.NEVER_USED)]
    await store.login(db.owner, busy.username, busy_password, now=NOW + 50 * DAY, hasher=CHEAP)
    second = await store.lock_due(db.owner, actor="job", now=NOW + 62 * DAY)
    assert [(a.username, r) for a, r in second] == [(idle.username, LockReason.IDLE)]
    assert await store.lock_due(db.owner, actor="job", now=NOW + 62 * DAY) == []
    with pytest.raises(AccessDenied) as refused:
        await store.login(db.owner, idle.username, idle_password, now=NOW + 63 * DAY, hasher=CHEAP)
    assert refused.value.reason is ReasonCode.ACCOUNT_LOCKED
    assert ("job", "lock", "idle") in await _events(db, idle.username)


async def test_roles_are_scoped_by_the_unit_tree(db: Db) -> None:
    provincial, _ = await _create(db, "Cao Văn Trọng", unit=PROVINCE, abbreviation="ubndt",
                                  role=Role.PROVINCIAL_ADMIN)  # fmt: skip
    admin_a, _ = await _create(db, "Trần Văn Ơn", role=Role.UNIT_ADMIN, actor=provincial)
    clerk_a1, _ = await _create(db, "Lý Thị Lan", unit=A1, abbreviation="ubndxak", actor=admin_a)
    clerk_b, _ = await _create(db, "Lê Văn Tám", unit=B, abbreviation="ubndmcn",
                               actor=provincial)  # fmt: skip
    for attempt in (
        _create(db, "Mai Văn Ba", unit=B, abbreviation="ubndmcn", actor=admin_a),
        _create(db, "Mai Văn Ba", role=Role.DEPARTMENT_MONITOR, actor=admin_a),
        store.lock(db.owner, clerk_b.username, actor=admin_a, now=NOW),
        store.reset_password(db.owner, clerk_b.username, actor=admin_a, now=NOW),
    ):
        with pytest.raises(AccessDenied) as caught:
            await attempt
        assert caught.value.reason is ReasonCode.ACCOUNT_SCOPE_FORBIDDEN
    locked = await store.lock(db.owner, clerk_a1.username, actor=admin_a, now=NOW, note="nghỉ")
    assert locked.lock_reason is LockReason.MANUAL
    fresh = await store.reset_password(
        db.owner, clerk_b.username, actor=provincial, now=NOW, hasher=CHEAP
    )
    again = await store.login(db.owner, clerk_b.username, fresh, now=NOW, hasher=CHEAP)
    assert again.must_change_password


async def test_reporting_reads_accounts_but_never_a_hash(db: Db) -> None:
    account, _ = await _create(db, "Cao Văn Trọng")
    assert await db.reporting.fetchval("SELECT username FROM accounts") == account.username
    assert await db.reporting.fetchval("SELECT count(*) FROM account_events") == 1
    assert await db.reporting.fetch("SELECT * FROM account_passwords") == []
    with pytest.raises(AccessDenied):
        await db.reporting.execute("UPDATE accounts SET failed_logins = 0")


def _cli(schema: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    env = {**os.environ, "LIENTHONG_DATABASE_SCHEMA": schema}
    env.pop("LIENTHONG_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "console", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, lines, result.stderr


async def test_the_cli_creates_the_first_admin_and_runs_the_locking_job(db: Db) -> None:
    code, out, stderr = await asyncio.to_thread(
        _cli, db.schema, "admin", "create", "--name", "Cao Văn Trọng", "--unit", PROVINCE,
        "--abbreviation", "stttt", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert out[0]["username"] == "cvtrong.stttt"
    assert out[0]["role"] == "provincial_admin"
    assert out[0]["must_change_password"] is True
    now = datetime.datetime.now(datetime.UTC)
    admin = await store.login(db.owner, "cvtrong.stttt", out[0]["password"], now=now)
    assert admin.must_change_password

    code, refused, _ = await asyncio.to_thread(
        _cli, db.schema, "admin", "create", "--name", "Trọng", "--unit", PROVINCE,
        "--abbreviation", "stttt",
    )  # fmt: skip
    assert code == 1
    assert refused[0]["reason_code"] == "account_name_invalid"

    stale, _ = await _create(db, "Võ Văn Kiệt", now=now - 40 * DAY)
    code, locked, stderr = await asyncio.to_thread(_cli, db.schema, "accounts", "lock-due")
    assert code == 0, stderr
    assert locked == [{"username": stale.username, "unit": A, "reason": "never_used"}]
    [(actor, event, reason)] = [e for e in await _events(db, stale.username) if e[1] == "lock"]
    assert actor.startswith("operator:")
    assert (event, reason) == ("lock", "never_used")
