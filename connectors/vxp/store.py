"""What the axis protocol reads from the registers, and what it keeps beside them.

Received documents are the incoming register's entries and received statuses are what the
sender's connector heard (`outgoing_status`): the protocol adds only which of them a unit's
system was shown and acknowledged (`vxp_acknowledgements`) and which bytes a unit already sent
(`vxp_sent`). Acknowledgement is per unit, not per system: a unit's new system does not
download again what its old one took.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kernel.database import Connection
from schemas.edxml.model import StatusCode

LIMIT = 500
"""Entries per list; a client that acknowledges what it took gets the next ones."""
CODES = [code.value for code in StatusCode]
"""Statuses a client of the protocol can read (the router's own 00 notice is not one)."""

_PENDING_DOCUMENTS = """
    FROM incoming_register r
    LEFT JOIN vxp_acknowledgements a ON a.unit = r.unit AND a.message_id = r.message_id
    WHERE r.unit = ANY($1::text[]) AND (a.state IS NULL OR a.state <> 'done')
"""
_PENDING_STATUSES = """
    FROM outgoing_status s
    LEFT JOIN vxp_acknowledgements a ON a.unit = s.unit AND a.message_id = s.status_message_id
    WHERE s.unit = ANY($1::text[]) AND s.status_code = ANY($2::text[])
      AND (a.state IS NULL OR a.state <> 'done')
"""


async def pending_documents(
    conn: Connection, units: Sequence[str], limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Documents these units received that their system has not acknowledged, oldest first."""
    rows = await conn.fetch(
        "SELECT r.unit, r.message_id, r.sender, r.kind, r.subject, r.sent_at, r.received_at,"
        " a.state, a.updated_at" + _PENDING_DOCUMENTS + " ORDER BY r.received_at, r.unit,"
        " r.number LIMIT $2",
        list(units),
        limit,
    )
    return [dict(row) for row in rows]


async def pending_statuses(
    conn: Connection, units: Sequence[str], limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Statuses these units heard about what they sent, not yet acknowledged, oldest first."""
    rows = await conn.fetch(
        "SELECT s.unit, s.status_message_id, s.message_id, s.recipient, s.status_code,"
        " s.description, s.at, a.state, a.updated_at" + _PENDING_STATUSES + " ORDER BY s.at,"
        " s.status_message_id LIMIT $3",
        list(units),
        CODES,
        limit,
    )
    return [dict(row) for row in rows]


async def count_documents(conn: Connection, units: Sequence[str]) -> int:
    count: int = await conn.fetchval("SELECT count(*)" + _PENDING_DOCUMENTS, list(units))
    return count


async def count_statuses(conn: Connection, units: Sequence[str]) -> int:
    count: int = await conn.fetchval("SELECT count(*)" + _PENDING_STATUSES, list(units), CODES)
    return count


async def received_by(conn: Connection, units: Sequence[str], message_id: str) -> list[str]:
    """Which of these units received the document `message_id`."""
    rows = await conn.fetch(
        "SELECT unit FROM incoming_register WHERE unit = ANY($1::text[]) AND message_id = $2"
        " ORDER BY unit",
        list(units),
        message_id,
    )
    return [row["unit"] for row in rows]


async def heard(
    conn: Connection, units: Sequence[str], status_message_id: str
) -> list[dict[str, Any]]:
    """A status these units heard, by its own id, with the document id it is about."""
    rows = await conn.fetch(
        "SELECT s.unit, s.message_id, s.recipient, s.status_code, s.description, s.at,"
        " r.document_id FROM outgoing_status s"
        " LEFT JOIN outgoing_register r ON r.unit = s.unit AND r.message_id = s.message_id"
        " WHERE s.unit = ANY($1::text[]) AND s.status_message_id = $2"
        " AND s.status_code = ANY($3::text[]) ORDER BY s.unit",
        list(units),
        status_message_id,
        CODES,
    )
    return [dict(row) for row in rows]


async def mark_listed(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, system_id: str
) -> None:
    """Note which pending documents a system was shown (no word from it yet): updateStatus
    acknowledges a document only for the units it was shown for."""
    await conn.executemany(
        "INSERT INTO vxp_acknowledgements (unit, message_id, kind, state, system_id)"
        " VALUES ($1, $2, 'edoc', 'listed', $3) ON CONFLICT (unit, message_id) DO NOTHING",
        [(row["unit"], row["message_id"], system_id) for row in rows if row["state"] is None],
    )


async def shown(conn: Connection, units: Sequence[str], message_id: str) -> list[str]:
    """Which of these units' systems were shown `message_id` (or said something of it)."""
    rows = await conn.fetch(
        "SELECT unit FROM vxp_acknowledgements WHERE unit = ANY($1::text[])"
        " AND message_id = $2 ORDER BY unit",
        list(units),
        message_id,
    )
    return [row["unit"] for row in rows]


async def acknowledge(
    conn: Connection,
    units: Sequence[str],
    message_id: str,
    *,
    kind: str,
    state: str,
    system_id: str,
) -> None:
    """Record what the system said about `message_id` for each of these units; the last
    word counts (a `fail` after a `done` puts it back in the list)."""
    await conn.executemany(
        "INSERT INTO vxp_acknowledgements (unit, message_id, kind, state, system_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit, message_id) DO UPDATE"
        " SET state = excluded.state, system_id = excluded.system_id, updated_at = now()",
        [(unit, message_id, kind, state, system_id) for unit in units],
    )


async def sent_documents(
    conn: Connection, units: Sequence[str], message_id: str | None, limit: int = LIMIT
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Documents these units sent (newest first; or the one `message_id`), and every status
    heard about them, oldest first."""
    documents = [
        dict(row)
        for row in await conn.fetch(
            "SELECT unit, message_id, kind, document_id, subject, recipients, created_at"
            " FROM outgoing_register WHERE unit = ANY($1::text[])"
            " AND ($2::text IS NULL OR message_id = $2)"
            " ORDER BY created_at DESC, unit, number DESC LIMIT $3",
            list(units),
            message_id,
            limit,
        )
    ]
    statuses = [
        dict(row)
        for row in await conn.fetch(
            "SELECT unit, message_id, recipient, status_code, reason_code, description, at"
            " FROM outgoing_status WHERE unit = ANY($1::text[]) AND message_id = ANY($2::text[])"
            " ORDER BY at",
            list(units),
            [d["message_id"] for d in documents],
        )
    ]
    return documents, statuses


async def latest_received(
    conn: Connection, unit: str, document_id: str, sender: str | None
) -> str | None:
    """The message id of the latest document `unit` received under this document id (an
    update or a replacement carries its original's), from `sender` when it is known."""
    found: str | None = await conn.fetchval(
        "SELECT message_id FROM incoming_register WHERE unit = $1 AND document_id = $2"
        " AND ($3::text IS NULL OR sender = $3) ORDER BY received_at DESC, year DESC,"
        " number DESC LIMIT 1",
        unit,
        document_id,
        sender,
    )
    return found


async def latest_sent(conn: Connection, unit: str, document_id: str) -> dict[str, Any] | None:
    """The latest document `unit` sent under this document id, with its recipients."""
    row = await conn.fetchrow(
        "SELECT message_id, recipients FROM outgoing_register WHERE unit = $1"
        " AND document_id = $2 ORDER BY created_at DESC, year DESC, number DESC LIMIT 1",
        unit,
        document_id,
    )
    return dict(row) if row is not None else None


async def directory(conn: Connection) -> list[dict[str, Any]]:
    """Every unit of the directory, with the codes of the units it succeeded."""
    rows = await conn.fetch(
        "SELECT u.organ_id, u.name, u.parent, (SELECT string_agg(p.organ_id, ','"
        " ORDER BY p.organ_id) FROM units p WHERE p.successor = u.organ_id) AS old_codes"
        " FROM units u ORDER BY u.organ_id"
    )
    return [dict(row) for row in rows]


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """What a request may do with bytes a unit sends: return the document they already are
    (`message_id`), send them under the id the claim reserved (`reserved`; `taken_over` when
    it takes over a claim whose lease ran out, whose send may have registered that id before
    it stopped), or wait (neither)."""

    message_id: str | None = None
    reserved: str | None = None
    taken_over: bool = False


async def claim(
    conn: Connection, unit: str, sha256: bytes, system_id: str, lease: datetime.timedelta
) -> Claim:
    async with conn.transaction():
        reserved = await conn.fetchval(
            "INSERT INTO vxp_sent (unit, sha256, system_id, lease_until, reserved_id)"
            " VALUES ($1, $2, $3, now() + $4, $5) ON CONFLICT (unit, sha256) DO NOTHING"
            " RETURNING reserved_id",
            unit,
            sha256,
            system_id,
            lease,
            str(uuid.uuid4()),
        )
        if reserved is not None:
            return Claim(reserved=reserved)
        row = await conn.fetchrow(
            "SELECT message_id, lease_until < now() AS lapsed FROM vxp_sent"
            " WHERE unit = $1 AND sha256 = $2 FOR UPDATE",
            unit,
            sha256,
        )
        assert row is not None  # it conflicted, and rows are never deleted
        if row["message_id"] is not None:
            return Claim(message_id=row["message_id"])
        if not row["lapsed"]:
            return Claim()
        reserved = await conn.fetchval(
            "UPDATE vxp_sent SET claimed_at = now(), lease_until = now() + $3, system_id = $4,"
            " reserved_id = coalesce(reserved_id, $5) WHERE unit = $1 AND sha256 = $2"
            " RETURNING reserved_id",
            unit,
            sha256,
            lease,
            system_id,
            str(uuid.uuid4()),
        )
        return Claim(reserved=reserved, taken_over=True)


async def complete(conn: Connection, unit: str, sha256: bytes, message_id: str) -> None:
    await conn.execute(
        "UPDATE vxp_sent SET message_id = $3 WHERE unit = $1 AND sha256 = $2",
        unit,
        sha256,
        message_id,
    )


async def release(conn: Connection, unit: str, sha256: bytes) -> None:
    """End a claim whose send failed, so the client's retry need not wait for its lease."""
    await conn.execute(
        "UPDATE vxp_sent SET lease_until = now() WHERE unit = $1 AND sha256 = $2"
        " AND message_id IS NULL",
        unit,
        sha256,
    )


async def registered(conn: Connection, unit: str, message_id: str) -> bool:
    """Whether `unit` numbered a document under this id: a send a crash cut off before its
    claim was completed."""
    found: bool | None = await conn.fetchval(
        "SELECT true FROM outgoing_register WHERE unit = $1 AND message_id = $2",
        unit,
        message_id,
    )
    return bool(found)
