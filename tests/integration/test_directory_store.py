"""The directory in the real PostgreSQL: saved whole, read back equal, loaded twice safely."""

from __future__ import annotations

import datetime

import asyncpg
import pytest

from broker.directory import Directory, Unit, loader, store
from lienthong.commands.pki import SAMPLE_DIRECTORY

pytestmark = pytest.mark.postgres


async def test_save_then_fetch_gives_the_same_directory(db: asyncpg.Connection) -> None:
    sample = loader.load(SAMPLE_DIRECTORY)
    assert await store.save(db, sample) == len(sample.units)
    assert await store.save(db, sample) == len(sample.units)
    fetched = await store.fetch(db)
    assert fetched.units == sample.units
    assert await db.fetchval("SELECT count(*) FROM units") == len(sample.units)


async def test_a_reload_updates_in_place(db: asyncpg.Connection) -> None:
    await store.save(db, Directory([Unit("000.00.01.H01", "Xã A", "commune")]))
    closed = Directory(
        [
            Unit(
                "000.00.01.H01",
                "Xã A",
                "commune",
                valid_to=datetime.date(2025, 6, 30),
                successor="000.00.02.H01",
            ),
            Unit("000.00.02.H01", "Xã B", "commune"),
        ]
    )
    await store.save(db, closed)
    fetched = await store.fetch(db)
    assert (
        fetched.resolve("000.00.01.H01", datetime.date(2026, 1, 1)).unit.organ_id == "000.00.02.H01"
    )


async def test_the_database_refuses_a_malformed_code_too(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO units (organ_id, name, level) VALUES ('1.2.3', 'x', 'commune')"
        )
