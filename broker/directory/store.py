"""The directory in PostgreSQL: loaded whole from a file, read whole into a `Directory`."""

from __future__ import annotations

import dataclasses

from broker.directory.model import Directory, Unit
from kernel.database import Connection

_COLUMNS = (
    "organ_id", "name", "level", "parent", "valid_from", "valid_to", "successor", "gateway",
)  # fmt: skip


async def save(conn: Connection, directory: Directory) -> int:
    """Insert or update every unit of `directory`, in one transaction; units not in it stay."""
    rows = [tuple(getattr(unit, c) for c in _COLUMNS) for unit in directory.units.values()]
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO units (organ_id, name, level, parent, valid_from, valid_to, successor,"
            " gateway) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (organ_id) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,"
            " parent = EXCLUDED.parent, valid_from = EXCLUDED.valid_from,"
            " valid_to = EXCLUDED.valid_to, successor = EXCLUDED.successor,"
            " gateway = EXCLUDED.gateway, updated_at = now()",
            rows,
        )
    return len(rows)


async def fetch(conn: Connection) -> Directory:
    rows = await conn.fetch(f"SELECT {', '.join(_COLUMNS)} FROM units")  # noqa: S608 (constants)
    return Directory(Unit(**dict(row)) for row in rows)


def as_json(unit: Unit) -> dict[str, str | None]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in dataclasses.asdict(unit).items()
    }
