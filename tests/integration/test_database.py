"""The real PostgreSQL: migrations, writes read back, and mapped errors."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from kernel import database
from kernel.errors import DatabaseUnavailable, MigrationFailed
from lienthong import demo
from lienthong.devstack.stack import Endpoints

pytestmark = pytest.mark.postgres


async def test_a_row_written_is_read_back(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO audit (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        "cvtrong.stttt",
        "replay",
        "000.00.00.H07",
        '{"why": "sửa kho tin cậy"}',
    )
    row = await db.fetchrow("SELECT actor, subject, detail->>'why' AS why FROM audit")
    assert row is not None
    assert (row["actor"], row["subject"], row["why"]) == (
        "cvtrong.stttt",
        "000.00.00.H07",
        "sửa kho tin cậy",
    )


async def test_demo_database_round_trip(services: Endpoints) -> None:
    detail = {"message_id": "m-1", "note": "Bến Tre"}
    assert await demo.database_round_trip(services.database_url.reveal(), "m-1", detail) == detail


async def test_migrations_are_recorded_and_run_once(db: asyncpg.Connection) -> None:
    schema = await db.fetchval("SELECT current_schema()")
    versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in database.load_migrations()]
    assert await database.migrate(db, schema=schema) == []


async def test_a_failing_migration_rolls_back_and_says_which(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    schema = await db.fetchval("SELECT current_schema()")
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE bad (id int); SELECT * FROM nowhere;")
    other = f"{schema}_m"
    try:
        with pytest.raises(MigrationFailed, match="0002_bad"):
            await database.migrate(db, schema=other, directory=tmp_path)
        tables = {
            r["table_name"]
            for r in await db.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", other
            )
        }
        assert tables == {"schema_migrations", "good"}
    finally:
        await db.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')


def test_a_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationFailed, match="NNNN_name"):
        database.load_migrations(tmp_path)


async def test_an_absent_server_is_a_retriable_database_unavailable(unused_tcp_port: int) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await database.connect(f"postgresql://x:y@127.0.0.1:{unused_tcp_port}/db", timeout=2)
    assert caught.value.retriable


async def test_a_wrong_password_is_not_retriable(services: Endpoints) -> None:
    dsn = services.database_url.reveal()
    wrong = dsn.replace(dsn.split(":")[2].split("@")[0], "wrong-password")
    with pytest.raises(DatabaseUnavailable) as caught:
        await database.connect(wrong)
    assert not caught.value.retriable
