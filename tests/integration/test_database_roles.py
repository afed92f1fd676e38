"""Least privilege in the real PostgreSQL: each role does its own work and nothing else.

Every test gets a schema migrated by lienthong_owner, as the devstack migrates, and two
connector deployments: A hosting two communes, B a province.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from kernel import database
from kernel.errors import AccessDenied, ConfigurationError
from kernel.reasons import ReasonCode
from kernel.settings import Secret
from lienthong import dbroles
from lienthong.devstack.stack import Endpoints

pytestmark = pytest.mark.postgres

A_UNITS = ("000.02.01.H62", "000.02.02.H62")
B_UNITS = ("000.00.00.H62",)
ALL = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"})
READ, WRITE, KEEP = (
    frozenset({"SELECT"}),
    frozenset({"SELECT", "INSERT"}),
    frozenset({"SELECT", "INSERT", "UPDATE"}),
)
NONE: frozenset[str] = frozenset()

# The privilege scheme: table -> (router's privileges, connector group's, row-level security).
# The reporting role reads every table; the owner owns them. A migration that adds a table
# adds it here, with its grants (and policies, for a register) in the migration itself.
SCHEME: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {
    "schema_migrations": (NONE, NONE, False),
    "audit": (WRITE, NONE, False),
    "units": (READ, READ, False),
    "messages": (KEEP, NONE, False),
    "deliveries": (KEEP, NONE, False),
    "delivery_events": (WRITE, NONE, False),
    "dead_letters": (KEEP, NONE, False),
    "policy_decisions": (WRITE, NONE, False),
    "held": (KEEP, NONE, False),
    "malware_scans": (WRITE, NONE, False),
    "register_counters": (NONE, KEEP, True),
    "outgoing_register": (NONE, WRITE, True),
    "incoming_register": (NONE, KEEP, True),
    "incoming_attachments": (NONE, WRITE, True),
    "outgoing_status": (NONE, WRITE, True),
    "outbox": (NONE, KEEP, True),
    "api_credentials": (NONE, READ, True),
    "incoming_quarantine": (NONE, WRITE, True),
    "connector_units": (NONE, READ, True),
    "vxp_systems": (NONE, READ, True),
    "vxp_acknowledgements": (NONE, KEEP, True),
    "vxp_sent": (NONE, KEEP, True),
    "claim_uploads": (READ, KEEP, True),
    "gateway_inbound": (NONE, NONE, True),
    "gateway_outbound": (NONE, NONE, True),
    "gateway_outbox": (NONE, NONE, True),
    "accounts": (NONE, NONE, False),
    "account_events": (NONE, NONE, False),
    # Reporting holds SELECT, and a policy that shows it no row: a hash is the owner's alone.
    "account_passwords": (NONE, NONE, True),
    # The same for the console's session tokens (their hashes) and CSRF tokens.
    "console_sessions": (NONE, NONE, True),
}
GATEWAY: dict[str, frozenset[str]] = {
    "units": READ,
    "gateway_inbound": KEEP,
    "gateway_outbound": KEEP,
    "gateway_outbox": KEEP,
}
"""The gateway group's privileges (a bridge's role is a member); none on any other table."""
CONSOLE: dict[str, frozenset[str]] = {
    "units": READ,
    "messages": frozenset({"SELECT", "UPDATE"}),
    "deliveries": READ,
    "delivery_events": READ,
    "dead_letters": frozenset({"SELECT", "UPDATE"}),
    "held": frozenset({"SELECT", "UPDATE"}),
    "policy_decisions": READ,
    "malware_scans": READ,
    "audit": WRITE,
    "incoming_register": READ,
    "outgoing_register": READ,
    "outgoing_status": READ,
    "incoming_attachments": READ,
    "accounts": KEEP,
    "account_passwords": KEEP,
    "account_events": WRITE,
    "console_sessions": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}),
}
"""The web console's privileges (migration 0024); none on any other table."""


@dataclasses.dataclass
class Roles:
    schema: str
    owner: asyncpg.Connection
    router: asyncpg.Connection
    reporting: asyncpg.Connection
    a: asyncpg.Connection
    b: asyncpg.Connection
    a_role: str
    b_role: str
    dsn_dir: Path


def _url(secret: Secret | None) -> str:
    assert secret is not None, "the devstack made no DSN for this role"
    return secret.reveal()


@pytest.fixture
async def roles(services: Endpoints, tmp_path: Path) -> AsyncIterator[Roles]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin_dsn = services.database_url.reveal()
    tag = uuid.uuid4().hex[:8]
    names = (f"t{tag}a", f"t{tag}b")
    admin = await database.connect(admin_dsn)
    owner_admin = await database.connect(_url(services.owner_database_url))
    opened: list[asyncpg.Connection] = []
    try:
        await database.migrate(owner_admin, schema=schema)
        owner = await database.connect(_url(services.owner_database_url), schema=schema)
        opened.append(owner)
        dsns = [
            await dbroles.create_connector_role(
                admin, owner, name, units, base=admin_dsn, directory=tmp_path
            )
            for name, units in zip(names, (A_UNITS, B_UNITS), strict=True)
        ]
        for url in (services.router_database_url, services.reporting_database_url, *dsns):
            opened.append(await database.connect(_url(url), schema=schema))
        owner, router, reporting, a, b = opened
        a_role, b_role = map(dbroles.connector_role, names)
        yield Roles(schema, owner, router, reporting, a, b, a_role, b_role, tmp_path)
    finally:
        for conn in opened:
            await conn.close()
        await owner_admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await owner_admin.close()
        for name in names:
            await admin.execute(f'DROP ROLE IF EXISTS "{dbroles.connector_role(name)}"')
        await admin.close()


async def _denied(conn: asyncpg.Connection, query: str, *args: object) -> AccessDenied:
    with pytest.raises(AccessDenied) as caught:
        await conn.execute(query, *args)
    assert caught.value.reason is ReasonCode.DATABASE_PERMISSION_DENIED
    assert not caught.value.retriable
    return caught.value


async def _send(conn: asyncpg.Connection, unit: str, message_id: str) -> None:
    """A deployment's own outgoing document, its counter and its outbox row."""
    await conn.execute(
        "INSERT INTO register_counters (unit, year, register, last) VALUES ($1, 2026, 'out', 1)"
        " ON CONFLICT (unit, year, register) DO UPDATE SET last = register_counters.last + 1",
        unit,
    )
    await conn.execute(
        "INSERT INTO outgoing_register (unit, year, number, message_id, kind, recipients,"
        " created_at) VALUES ($1, 2026, 1, $2, 'document', '{}', now())",
        unit,
        message_id,
    )
    await conn.execute(
        "INSERT INTO outbox (message_id, unit, topic, key, value, headers)"
        " VALUES ($1, $2, 'lienthong.submit', '', '', '[]')",
        message_id,
        unit,
    )


async def test_every_table_is_in_the_privilege_scheme(roles: Roles) -> None:
    rows = await roles.owner.fetch(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
        roles.schema,
    )
    tables = {row["relname"]: row["relrowsecurity"] for row in rows}
    assert set(tables) == set(SCHEME), (
        "every table needs its grants and an entry in SCHEME: "
        f"unlisted {sorted(set(tables) - set(SCHEME))}, gone {sorted(set(SCHEME) - set(tables))}"
    )

    async def held(role: str, table: str) -> frozenset[str]:
        return frozenset(
            [
                p
                for p in ALL
                if await roles.owner.fetchval(
                    "SELECT has_table_privilege($1, format('%I.%I', $2::text, $3::text), $4)",
                    role,
                    roles.schema,
                    table,
                    p,
                )
            ]
        )

    policies = {
        (row["tablename"], role)
        for row in await roles.owner.fetch(
            "SELECT tablename, roles FROM pg_policies WHERE schemaname = $1", roles.schema
        )
        for role in row["roles"]
    }
    for table, (router, connector, rls) in SCHEME.items():
        gateway = GATEWAY.get(table, NONE)
        assert await held(dbroles.ROUTER, table) == router, table
        assert await held(dbroles.CONNECTOR, table) == connector, table
        assert await held(dbroles.GATEWAY, table) == gateway, table
        assert await held(dbroles.CONSOLE, table) == CONSOLE.get(table, NONE), table
        assert await held(dbroles.REPORTING, table) == READ, table
        assert tables[table] is rls, f"{table}: row-level security"
        if rls:
            confined = {dbroles.REPORTING}
            confined |= {dbroles.CONNECTOR} if connector else set()
            confined |= {dbroles.GATEWAY} if gateway else set()
            confined |= {dbroles.CONSOLE} if table in CONSOLE else set()
            assert {(table, role) for role in confined} <= policies, table


async def test_a_deployment_reads_and_writes_only_its_own_units(roles: Roles) -> None:
    await _send(roles.a, A_UNITS[0], "m-a")
    await _send(roles.b, B_UNITS[0], "m-b")

    for conn, unit, message_id in ((roles.a, A_UNITS[0], "m-a"), (roles.b, B_UNITS[0], "m-b")):
        for table in ("outgoing_register", "outbox", "register_counters"):
            assert {r["unit"] for r in await conn.fetch(f"SELECT unit FROM {table}")} == {unit}
        assert await conn.fetchval("SELECT message_id FROM outgoing_register") == message_id

    refused = await _denied(
        roles.a,
        "INSERT INTO outgoing_register (unit, year, number, message_id, kind, recipients,"
        " created_at) VALUES ($1, 2026, 2, 'forged', 'document', '{}', now())",
        B_UNITS[0],
    )
    assert "row-level security" in refused.message
    assert refused.hint is not None
    assert "connector-role" in refused.hint
    await _denied(
        roles.a,
        "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender, sent_at,"
        " edxml) VALUES ($1, 2026, 1, 'x', 'document', $2, now(), '')",
        B_UNITS[0],
        A_UNITS[0],
    )
    # B's rows cannot be changed, nor moved into A's units, by A: to A they do not exist.
    assert await roles.a.execute(
        "UPDATE outbox SET sent_at = now() WHERE unit = $1", B_UNITS[0]
    ) == ("UPDATE 0")
    assert await roles.b.fetchval("SELECT sent_at FROM outbox") is None
    await _denied(roles.a, "UPDATE outbox SET unit = $1", B_UNITS[0])
    await _denied(roles.a, "DELETE FROM outbox")
    await _denied(roles.a, "SELECT * FROM messages")


async def test_statuses_belong_to_the_unit_that_heard_them(roles: Roles) -> None:
    """By a unit column, not by whether some row with that message id exists: a deployment
    cannot read another unit's statuses, or take their place, by queuing a row of its own
    under that message's id."""
    await _send(roles.a, A_UNITS[0], "m-a")
    status = (
        "INSERT INTO outgoing_status (unit, message_id, recipient, status_code, at,"
        " status_message_id) VALUES ($1, $2, $3, $4, now(), $5)"
    )
    await roles.a.execute(status, A_UNITS[0], "m-a", B_UNITS[0], "01", "s-1")
    await _denied(roles.b, status, A_UNITS[0], "m-a", B_UNITS[0], "03", "s-2")
    await roles.b.execute(  # B queues an outbox row under A's message id
        "INSERT INTO outbox (message_id, unit, topic, key, value, headers)"
        " VALUES ('m-a', $1, 't', '', '', '[]')",
        B_UNITS[0],
    )
    assert await roles.b.fetch("SELECT * FROM outgoing_status") == []
    await roles.b.execute(status, B_UNITS[0], "m-a", A_UNITS[0], "01", "s-1")  # its own view
    assert [r["unit"] for r in await roles.a.fetch("SELECT * FROM outgoing_status")] == [A_UNITS[0]]


async def test_credentials_and_hosted_units_are_a_deployment_s_own(roles: Roles) -> None:
    await roles.owner.executemany(
        "INSERT INTO api_credentials (id, name, units, secret_sha256) VALUES ($1, $1, $2, '')",
        [("a", [A_UNITS[0]]), ("aa", list(A_UNITS)), ("ab", [A_UNITS[0], *B_UNITS]),
         ("b", list(B_UNITS))],
    )  # fmt: skip
    assert {r["id"] for r in await roles.a.fetch("SELECT id FROM api_credentials")} == {"a", "aa"}
    assert {r["id"] for r in await roles.b.fetch("SELECT id FROM api_credentials")} == {"b"}
    await _denied(
        roles.a,
        "INSERT INTO api_credentials (id, name, units, secret_sha256) VALUES ('x', 'x', $1, '')",
        [A_UNITS[0], *B_UNITS],
    )
    hosted = {(r["unit"], r["role"]) for r in await roles.a.fetch("SELECT * FROM connector_units")}
    assert hosted == {(unit, roles.a_role) for unit in A_UNITS}
    await _denied(
        roles.a, "INSERT INTO connector_units (unit, role) VALUES ($1, $2)", "x", roles.a_role
    )


async def test_a_connector_can_neither_mint_nor_revive_a_credential(roles: Roles) -> None:
    """A compromised connector host must not undo the operator's revocation."""
    await roles.owner.execute(
        "INSERT INTO api_credentials (id, name, units, secret_sha256, revoked_at)"
        " VALUES ('r', 'r', $1, '', now())",
        [A_UNITS[0]],
    )
    await _denied(roles.a, "UPDATE api_credentials SET revoked_at = NULL WHERE id = 'r'")
    await _denied(roles.a, "UPDATE api_credentials SET secret_sha256 = 'x' WHERE id = 'r'")
    await _denied(
        roles.a,
        "INSERT INTO api_credentials (id, name, units, secret_sha256) VALUES ('n', 'n', $1, '')",
        [A_UNITS[0]],
    )
    await roles.a.execute("UPDATE api_credentials SET last_used_at = now() WHERE id = 'r'")
    row = await roles.owner.fetchrow("SELECT revoked_at, last_used_at FROM api_credentials")
    assert row is not None
    assert row["revoked_at"] is not None
    assert row["last_used_at"] is not None


async def test_axis_systems_and_their_acknowledgements_are_a_deployment_s_own(
    roles: Roles,
) -> None:
    """The /vxp systems as the API credentials: read, never minted, re-keyed or revived by a
    connector; what a system acknowledged and sent is its units' own rows."""
    await roles.owner.executemany(
        "INSERT INTO vxp_systems (id, units, secret_sealed, key_id) VALUES ($1, $2, '', 'k')",
        [("a", [A_UNITS[0]]), ("ab", [A_UNITS[0], *B_UNITS]), ("b", list(B_UNITS))],
    )
    assert {r["id"] for r in await roles.a.fetch("SELECT id FROM vxp_systems")} == {"a"}
    assert {r["id"] for r in await roles.b.fetch("SELECT id FROM vxp_systems")} == {"b"}
    for statement in (
        "INSERT INTO vxp_systems (id, units, secret_sealed, key_id) VALUES ('n', $1, '', 'k')",
        "UPDATE vxp_systems SET secret_sealed = 'x' WHERE units = $1",
        "UPDATE vxp_systems SET revoked_at = NULL WHERE units = $1",
    ):
        await _denied(roles.a, statement, [A_UNITS[0]])
    await roles.a.execute("UPDATE vxp_systems SET last_used_at = now() WHERE id = 'a'")
    for table, columns, values in (
        ("vxp_acknowledgements", "(unit, message_id, kind, state, system_id)",
         "($1, 'm', 'edoc', 'done', 'a')"),
        ("vxp_sent", "(unit, sha256, system_id)", "($1, '\\x00', 'a')"),
        ("claim_uploads", "(unit, sha256, size)", "($1, 'ab', 1)"),
    ):  # fmt: skip
        insert = f"INSERT INTO {table} {columns} VALUES {values}"
        await roles.a.execute(insert, A_UNITS[0])
        await _denied(roles.a, insert, B_UNITS[0])
        assert await roles.b.fetch(f"SELECT * FROM {table}") == []
    await roles.a.fetch("SELECT organ_id FROM units")  # getAgenciesList reads the directory


async def test_quarantine_takes_a_deployment_s_own_records(roles: Roles) -> None:
    quarantine = (
        'INSERT INTO incoming_quarantine (unit, topic, partition, "offset", reason_code,'
        " reason, value, headers) VALUES ($1, 't', 0, $2, 'endorsement_missing', 'r', '', '[]')"
    )
    await roles.a.execute(quarantine, A_UNITS[1], 1)
    await _denied(roles.a, quarantine, B_UNITS[0], 2)
    assert await roles.b.fetch("SELECT * FROM incoming_quarantine") == []


async def test_the_router_keeps_the_ledger_and_nothing_else(roles: Roles) -> None:
    await roles.router.execute(
        "INSERT INTO messages (message_id, kind, sender, size, created_at, verdict, source)"
        " VALUES ('m', 'document', $1, 1, now(), 'routing', 'lienthong.submit')",
        A_UNITS[0],
    )
    await roles.router.execute("UPDATE messages SET verdict = 'routed' WHERE message_id = 'm'")
    await roles.router.execute(
        "INSERT INTO deliveries (message_id, recipient, state) VALUES ('m', $1, 'routed')",
        B_UNITS[0],
    )
    await roles.router.execute(
        "INSERT INTO delivery_events (message_id, recipient, state) VALUES ('m', $1, 'routed')",
        B_UNITS[0],
    )
    await roles.router.execute(
        'INSERT INTO dead_letters (topic, partition, "offset", original, stage, reason_code,'
        " reason) VALUES ('t', 0, 1, '', 'decode', 'envelope_invalid', 'r')"
    )
    await roles.router.execute(
        "INSERT INTO audit (actor, action, subject) VALUES ('qtv', 'replay', 'm')"
    )
    assert await roles.router.fetchval("SELECT verdict FROM messages") == "routed"
    await roles.router.fetch("SELECT * FROM units")

    for statement in (
        "DROP TABLE messages",
        "ALTER TABLE messages ADD COLUMN x int",
        "ALTER TABLE messages DISABLE ROW LEVEL SECURITY",
        "TRUNCATE audit",
        "DELETE FROM audit",
        "CREATE TABLE mine (id int)",
        "SELECT * FROM incoming_register",
        "SELECT * FROM outgoing_status",
        "INSERT INTO outbox (message_id, unit, topic, key, value, headers)"
        " VALUES ('x', 'u', 't', '', '', '[]')",
        "INSERT INTO units (organ_id, name, level) VALUES ('000.00.00.H99', 'x', 'central')",
    ):
        await _denied(roles.router, statement)


async def test_reporting_reads_every_register_and_writes_nothing(roles: Roles) -> None:
    await _send(roles.a, A_UNITS[0], "m-a")
    await _send(roles.b, B_UNITS[0], "m-b")
    units = {r["unit"] for r in await roles.reporting.fetch("SELECT unit FROM outgoing_register")}
    assert units == {A_UNITS[0], B_UNITS[0]}
    assert len(await roles.reporting.fetch("SELECT * FROM connector_units")) == 3
    for statement in (
        "INSERT INTO audit (actor, action, subject) VALUES ('x', 'x', 'x')",
        "UPDATE outbox SET sent_at = now()",
        "DELETE FROM outgoing_register",
        "UPDATE messages SET verdict = 'routed'",
        "TRUNCATE register_counters",
        "DROP TABLE audit",
    ):
        await _denied(roles.reporting, statement)


async def test_the_console_keeps_accounts_and_writes_no_register(
    roles: Roles, services: Endpoints
) -> None:
    """A flaw in a console page gives what the console role may do: read, decide reviews,
    keep accounts; never a register write, DDL or a connector's secrets."""
    await _send(roles.a, A_UNITS[0], "m-a")
    console = await database.connect(_url(services.console_database_url), schema=roles.schema)
    try:
        rows = await console.fetch("SELECT unit FROM outgoing_register")
        assert [row["unit"] for row in rows] == [A_UNITS[0]]
        for statement in (
            "UPDATE outgoing_register SET subject = 'x'",
            "INSERT INTO register_counters (unit, year, register) VALUES ('x', 2026, 'in')",
            "SELECT * FROM api_credentials",
            "SELECT * FROM outbox",
            "DELETE FROM accounts",
            "DELETE FROM audit",
            "TRUNCATE console_sessions",
            "DROP TABLE audit",
            "CREATE TABLE mine (x int)",
        ):
            await _denied(console, statement)
    finally:
        await console.close()


async def test_no_run_time_role_has_power(roles: Roles) -> None:
    names = [
        dbroles.OWNER, dbroles.ROUTER, dbroles.REPORTING, dbroles.CONSOLE, dbroles.CONNECTOR,
        dbroles.GATEWAY,
    ]  # fmt: skip
    rows = await roles.owner.fetch(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,"
        " rolcanlogin, pg_has_role(rolname, $2, 'MEMBER') AS connector FROM pg_roles"
        " WHERE rolname = ANY($1::text[])",
        [*names, roles.a_role, roles.b_role],
        dbroles.CONNECTOR,
    )
    assert len(rows) == 8
    for row in rows:
        powers = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")
        assert not any(row[power] for power in powers), row["rolname"]
        assert row["rolcanlogin"] is (row["rolname"] not in (dbroles.CONNECTOR, dbroles.GATEWAY))
    deployments = {r["rolname"] for r in rows if r["connector"]} - {dbroles.CONNECTOR}
    assert deployments == {roles.a_role, roles.b_role}
    # The owner owns the schema's tables, so migrations need no superuser.
    owners = await roles.owner.fetch(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", roles.schema
    )
    assert [r["tableowner"] for r in owners] == [dbroles.OWNER]


async def test_a_unit_has_one_deployment(roles: Roles, services: Endpoints) -> None:
    admin = await database.connect(services.database_url.reveal())
    try:
        with pytest.raises(ConfigurationError, match=f"{B_UNITS[0]} \\({roles.b_role}\\)"):
            await dbroles.create_connector_role(
                admin,
                roles.owner,
                roles.a_role.removeprefix(dbroles.CONNECTOR + "_"),
                [*A_UNITS, *B_UNITS],
                base=services.database_url.reveal(),
                directory=roles.dsn_dir,
            )
    finally:
        await admin.close()
    # Giving a deployment fewer units releases the others.
    await dbroles.host_units(roles.owner, roles.a_role, A_UNITS[:1])
    assert await roles.a.fetchval("SELECT array_agg(unit) FROM connector_units") == [A_UNITS[0]]


async def test_dsn_files_are_private_and_found_through_endpoints(
    roles: Roles, services: Endpoints
) -> None:
    assert services.database_roles_dir is not None
    for directory in (roles.dsn_dir, services.database_roles_dir):
        assert directory.stat().st_mode & 0o777 == 0o700
        files = list(directory.glob("*.dsn"))
        assert files
        for file in files:
            assert file.stat().st_mode & 0o777 == 0o600, file
    here = dataclasses.replace(services, database_roles_dir=roles.dsn_dir)
    name = roles.a_role.removeprefix(dbroles.CONNECTOR + "_")
    conn = await database.connect(here.connector_database_url(name).reveal())
    try:
        assert await conn.fetchval("SELECT current_user") == roles.a_role
    finally:
        await conn.close()
    with pytest.raises(ConfigurationError, match="connector-role"):
        here.connector_database_url("absent")
    with pytest.raises(ConfigurationError, match="a-z, 0-9"):
        here.connector_database_url("Robert'); DROP ROLE x; --")


async def test_the_connector_role_command(services: Endpoints, roles: Roles) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    role = dbroles.connector_role(name)
    env = {**os.environ, "LIENTHONG_DATABASE_SCHEMA": roles.schema}
    env.pop("LIENTHONG_DATABASE_URL", None)
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "lienthong",
            "db",
            "connector-role",
            name,
            "--unit",
            "000.02.03.H62",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert services.database_roles_dir is not None
    dsn_file = dbroles.dsn_file(services.database_roles_dir, role)
    try:
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out == {"role": role, "units": ["000.02.03.H62"], "dsn_file": str(dsn_file)}
        assert dsn_file.stat().st_mode & 0o777 == 0o600
        assert "postgresql://" not in result.stdout + result.stderr
        assert (
            await roles.reporting.fetchval(
                "SELECT role FROM connector_units WHERE unit = '000.02.03.H62'"
            )
            == role
        )
    finally:
        dsn_file.unlink(missing_ok=True)
        admin = await database.connect(services.database_url.reveal())
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_the_stack_migrates_as_the_owner(services: Endpoints) -> None:
    assert services.owner_database_url is not None
    conn = await database.connect(services.owner_database_url.reveal())
    try:
        assert await conn.fetchval("SELECT current_user") == dbroles.OWNER
        assert (
            await conn.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
            )
            == dbroles.OWNER
        )
    finally:
        await conn.close()


async def test_a_gateway_keeps_its_own_rows_and_reads_no_register(
    roles: Roles, services: Endpoints
) -> None:
    """A bridge's role (lienthong vxp bridge) reads the directory and writes what it took,
    carried and queued for its own gateway; another gateway's rows do not exist for it, and
    the registers and the ledger are not its to read."""
    admin = await database.connect(services.database_url.reveal())
    names = [f"g{uuid.uuid4().hex[:8]}" for _ in range(2)]
    opened: list[asyncpg.Connection] = []
    try:
        for name in names:
            dsn = await dbroles.create_gateway_role(
                admin, name, base=services.database_url.reveal(), directory=roles.dsn_dir
            )
            opened.append(await database.connect(dsn.reveal(), schema=roles.schema))
        mine, theirs = opened
        insert = (
            "INSERT INTO gateway_inbound (gateway, kind, remote_id, refused_reason)"
            " VALUES ($1, 'edoc', 'r1', 'unit_forbidden')"
        )
        await mine.execute(insert, names[0])
        await _denied(mine, insert, names[1])
        assert await theirs.fetch("SELECT * FROM gateway_inbound") == []
        assert await theirs.execute(
            "UPDATE gateway_inbound SET acknowledged_at = now()"
        ) == "UPDATE 0"  # fmt: skip
        await mine.execute(
            "INSERT INTO gateway_outbox (gateway, message_id, topic, key, value, headers)"
            " VALUES ($1, 'm', 't', '', '', '[]')",
            names[0],
        )
        await mine.fetch("SELECT organ_id, gateway FROM units")
        for statement in (
            "SELECT * FROM incoming_register",
            "SELECT * FROM outgoing_status",
            "SELECT * FROM messages",
            "SELECT * FROM vxp_systems",
            "DELETE FROM gateway_inbound",
            "INSERT INTO units (organ_id, name, level) VALUES ('000.00.00.H99', 'x', 'central')",
        ):
            await _denied(mine, statement)
        assert len(await roles.reporting.fetch("SELECT * FROM gateway_inbound")) == 1
    finally:
        for conn in opened:
            await conn.close()
        for name in names:
            await admin.execute(f'DROP ROLE IF EXISTS "{dbroles.gateway_role(name)}"')
        await admin.close()
