"""PostgreSQL helpers: pools, versioned migrations, and asyncpg's errors mapped to ours.

Migrations are plain SQL files `NNNN_name.sql` in `kernel/migrations/`, applied in order,
each in its own transaction, under an advisory lock so two services starting together do
not race. A schema name confines everything to one schema (the tests give each test its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kernel.errors import AccessDenied, ConfigurationError, DatabaseUnavailable, MigrationFailed
from kernel.reasons import ReasonCode
from kernel.settings import mask_dsn

# What queries run on: a plain connection or one borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK_KEY = 0x6C69656E  # "lien": one advisory lock for all migrations


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationFailed(f"migration file {path.name} is not named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationFailed(f"two migrations share a version in {directory}")
    return migrations


@contextlib.contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Connection-level failures are retriable `DatabaseUnavailable`, a refused privilege is
    `AccessDenied`; other SQL errors pass through."""
    try:
        yield
    except (TimeoutError, OSError, asyncpg.exceptions.CannotConnectNowError) as exc:
        raise DatabaseUnavailable(mask_dsn(f"{what}: {type(exc).__name__}: {exc}")) from exc
    except asyncpg.exceptions.InvalidPasswordError as exc:
        error = DatabaseUnavailable(f"{what}: authentication failed")
        error.retriable = False
        raise error from exc
    except asyncpg.exceptions.InsufficientPrivilegeError as exc:
        raise _denied(what, exc) from exc


def _denied(what: str, exc: asyncpg.exceptions.InsufficientPrivilegeError) -> AccessDenied:
    hint = (
        "a connector deployment's role reads and writes only the units it hosts "
        "(`lienthong db connector-role NAME --unit ORGANID…`)"
        if "row-level security" in str(exc)
        else None
    )
    return AccessDenied(ReasonCode.DATABASE_PERMISSION_DENIED, f"{what}: {exc}", hint=hint)


@contextlib.contextmanager
def _connect_errors(what: str) -> Iterator[None]:
    """mapped_errors, and a malformed DSN told without quoting it."""
    try:
        with mapped_errors(what):
            yield
    except (asyncpg.exceptions.ClientConfigurationError, ValueError):
        # asyncpg's message may quote a piece of a malformed DSN, even of its password.
        raise ConfigurationError(
            f"{what}: the database URL is malformed",
            hint="check LIENTHONG_DATABASE_URL or the role's DSN file; percent-encode "
            "'@', '/', ':', '?' and '#' in its password",
        ) from None


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except asyncpg.exceptions.InsufficientPrivilegeError as exc:
        raise _denied("the database refused", exc) from exc


class MappedConnection(asyncpg.Connection):
    """A connection whose queries raise `AccessDenied` (DATABASE_PERMISSION_DENIED) when the
    role lacks a privilege or row-level security refuses a row; other errors pass as before."""

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _refused():
            return await super().execute(query, *args, **kwargs)

    async def executemany(self, command: str, *args: Any, **kwargs: Any) -> Any:
        with _refused():
            return await super().executemany(command, *args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _refused():
            return await super().fetch(query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _refused():
            return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        with _refused():
            return await super().fetchrow(query, *args, **kwargs)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise MigrationFailed(f"{schema!r} is not a plain lower-case schema name")
    return schema


async def connect(
    dsn: str, *, schema: str | None = None, timeout: float = 10.0
) -> asyncpg.Connection:
    server_settings = {"search_path": check_schema_name(schema)} if schema else None
    with _connect_errors("cannot connect to PostgreSQL"):
        connection: asyncpg.Connection = await asyncpg.connect(
            dsn,
            timeout=timeout,
            server_settings=server_settings,
            connection_class=MappedConnection,
        )
        return connection


@contextlib.asynccontextmanager
async def pool(
    dsn: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
) -> AsyncIterator[asyncpg.Pool]:
    server_settings = {"search_path": check_schema_name(schema)} if schema else None
    with _connect_errors("cannot open a PostgreSQL pool"):
        created = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
            connection_class=MappedConnection,
        )
    try:
        yield created
    finally:
        await created.close()


async def wait_until_ready(dsn: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await connect(dsn, timeout=5.0)
        except DatabaseUnavailable as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
        else:
            await conn.close()
            return


async def migrate(
    conn: asyncpg.Connection, *, schema: str = "public", directory: Path = MIGRATIONS_DIR
) -> list[int]:
    """Bring `schema` up to the newest migration; return the versions applied now."""
    check_schema_name(schema)
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row["version"]
            # The schema name passed check_schema_name: no injection through it.
            for row in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')  # noqa: S608
        }
        for migration in load_migrations(directory):
            if migration.version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
            except (asyncpg.PostgresError, AccessDenied) as exc:
                raise MigrationFailed(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
