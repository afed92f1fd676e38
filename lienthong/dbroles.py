"""PostgreSQL roles of least privilege, and the DSN file each login role is reached by.

`deploy/postgres/roles.sql` makes the cluster-wide roles; the migrations grant them the
tables and confine the registers by row-level security (0012_privileges.sql). An
administrator's connection (the devstack's bootstrap superuser, or a DBA's) is needed only
here, to make roles and set passwords; everything else runs as the roles themselves.

Each login role's DSN lives in `<dir>/<role>.dsn`, 0600 in a 0700 directory: the local
cluster's `roles/`, or `<state>/database/` for a server given by LIENTHONG_DATABASE_URL.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from kernel.database import Connection
from kernel.errors import ConfigurationError
from kernel.secrets import write_private
from kernel.settings import Secret

OWNER = "lienthong_owner"
ROUTER = "lienthong_router"
REPORTING = "lienthong_reporting"
CONSOLE = "lienthong_console"
CONNECTOR = "lienthong_connector"
GATEWAY = "lienthong_gateway"
LOGIN_ROLES = (OWNER, ROUTER, REPORTING, CONSOLE)
ROLES_SQL = Path(__file__).resolve().parents[1] / "deploy" / "postgres" / "roles.sql"
_DEPLOYMENT = re.compile(r"[a-z0-9_]{1,40}")
_GATEWAY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_LOCK_KEY = 0x6C69656F  # one advisory lock for making roles, beside the migrations' one
_CREDENTIAL_PARAMETERS = {"user", "password", "sslpassword"}


def connector_role(name: str) -> str:
    """The login role of connector deployment `name`."""
    if not _DEPLOYMENT.fullmatch(name):
        raise ConfigurationError(
            f"a connector deployment's name is 1-40 of a-z, 0-9 and '_', not {name!r}"
        )
    return f"{CONNECTOR}_{name}"


def gateway_role(name: str) -> str:
    """The login role of gateway `name` (a name the directory gives remote units)."""
    if not _GATEWAY.fullmatch(name):
        raise ConfigurationError(
            f"a gateway's name is a-z, then 0-39 of a-z, 0-9 and '_', not {name!r}"
        )
    return f"{GATEWAY}_{name}"


def dsn_file(directory: Path, role: str) -> Path:
    return directory / f"{role}.dsn"


def read_dsn(directory: Path, role: str) -> Secret | None:
    """The role's DSN from its file, or None when it has none yet."""
    try:
        return Secret(dsn_file(directory, role).read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return None


def deployment_dsn(directory: Path | None, name: str) -> Secret:
    """Connector deployment `name`'s DSN (`lienthong db connector-role NAME` wrote it)."""
    role = connector_role(name)
    found = read_dsn(directory, role) if directory else None
    if found is None:
        raise ConfigurationError(
            f"connector deployment {name!r} has no database role ({role}) yet",
            hint=f"create it: lienthong db connector-role {name} --unit ORGANID…",
        )
    return found


def role_dsn(base: str, role: str, password: str) -> str:
    """`base` (a URL DSN of the same server and database) logging in as `role`."""
    parts = urllib.parse.urlsplit(base)
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{urllib.parse.quote(role, safe='')}:{urllib.parse.quote(password, safe='')}"
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if key not in _CREDENTIAL_PARAMETERS
    ]
    return urllib.parse.urlunsplit(
        parts._replace(netloc=f"{userinfo}@{host}", query=urllib.parse.urlencode(query))
    )


async def _set_login(admin: Connection, role: str, base: str, directory: Path) -> Secret:
    """Give `role` the password its DSN file holds (a new one if none) and write the file."""
    known = read_dsn(directory, role)
    password = urllib.parse.urlsplit(known.reveal()).password if known else None
    password = urllib.parse.unquote(password) if password else secrets.token_urlsafe(24)
    # ALTER ROLE takes no parameters: the server quotes the name and the password itself.
    statement: str = await admin.fetchval(
        "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)", role, password
    )
    await admin.execute(statement)
    dsn = role_dsn(base, role, password)
    write_private(dsn_file(directory, role), dsn + "\n")
    return Secret(dsn)


async def create_roles(admin: Connection, *, base: str, directory: Path) -> dict[str, Secret]:
    """Run roles.sql, give each login role a password and write its DSN file (idempotent).

    `admin` is connected to lienthong's database as an administrator; `base` is any URL DSN
    of that database, whose host, port, database and options the role DSNs keep.
    """
    async with admin.transaction():
        await admin.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await admin.execute(ROLES_SQL.read_text(encoding="utf-8"))
        return {role: await _set_login(admin, role, base, directory) for role in LOGIN_ROLES}


async def create_connector_role(
    admin: Connection,
    owner: Connection,
    name: str,
    units: Sequence[str],
    *,
    base: str,
    directory: Path,
) -> Secret:
    """Make (or update) connector deployment `name`'s login role, hosting exactly `units`.

    `owner` is lienthong_owner connected with lienthong's schema on its search path; the
    role's DSN file is written under `directory`, and its DSN returned.
    """
    role = connector_role(name)
    async with admin.transaction():
        await admin.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            statement: str = await admin.fetchval(
                "SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', $1::text, $2::text)",
                role,
                CONNECTOR,
            )
            await admin.execute(statement)
        dsn = await _set_login(admin, role, base, directory)
    await host_units(owner, role, units)
    return dsn


async def create_gateway_role(
    admin: Connection, name: str, *, base: str, directory: Path
) -> Secret:
    """Make (or give a password to) gateway `name`'s login role, a member of
    lienthong_gateway: it reads the directory and its own gateway's rows, nothing else."""
    role = gateway_role(name)
    async with admin.transaction():
        await admin.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            statement: str = await admin.fetchval(
                "SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', $1::text, $2::text)",
                role,
                GATEWAY,
            )
            await admin.execute(statement)
        return await _set_login(admin, role, base, directory)


def gateway_dsn(directory: Path | None, name: str) -> Secret:
    """Gateway `name`'s DSN (`lienthong db gateway-role NAME` wrote it)."""
    role = gateway_role(name)
    found = read_dsn(directory, role) if directory else None
    if found is None:
        raise ConfigurationError(
            f"gateway {name!r} has no database role ({role}) yet",
            hint=f"create it: lienthong db gateway-role {name}",
        )
    return found


async def host_units(owner: Connection, role: str, units: Sequence[str]) -> None:
    """Make `units` the units deployment role `role` hosts; a unit has one deployment."""
    async with owner.transaction():
        elsewhere = await owner.fetch(
            "SELECT unit, role FROM connector_units WHERE unit = ANY($1::text[]) AND role <> $2"
            " ORDER BY unit",
            list(units),
            role,
        )
        if elsewhere:
            taken = ", ".join(f"{row['unit']} ({row['role']})" for row in elsewhere)
            raise ConfigurationError(
                f"units already hosted by another connector deployment: {taken}",
                hint="move a unit by giving that deployment its units without it first",
            )
        await owner.execute(
            "DELETE FROM connector_units WHERE role = $1 AND unit <> ALL($2::text[])",
            role,
            list(units),
        )
        await owner.executemany(
            "INSERT INTO connector_units (unit, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(unit, role) for unit in units],
        )


async def hosting(conn: Connection, units: Sequence[str]) -> list[str]:
    """The deployment roles that host any of `units`."""
    rows = await conn.fetch(
        "SELECT DISTINCT role FROM connector_units WHERE unit = ANY($1::text[]) ORDER BY role",
        list(units),
    )
    return [str(row["role"]) for row in rows]


async def adopt_schema(admin: Connection, schema: str) -> None:
    """Hand `schema` and its tables to lienthong_owner (a schema migrated before the roles
    existed belongs to whoever migrated it, and the owner could not migrate it further)."""
    statements: list[str] = [
        row[0]
        for row in await admin.fetch(
            "SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, $2::text) FROM pg_namespace"
            " WHERE nspname = $1 AND pg_get_userbyid(nspowner) <> $2"
            " UNION ALL"
            " SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, $2::text)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')"
            " AND pg_get_userbyid(c.relowner) <> $2",
            schema,
            OWNER,
        )
    ]
    async with admin.transaction():
        for statement in statements:
            await admin.execute(statement)
