"""Operators replay dead letters once the cause is fixed (a trust-store or directory update).

A replay puts the original record back on the lane it came in on (`submit` or the urgent
lane), byte for byte with its key and headers, and writes who and why to the audit. The
router's ledger makes a second replay of a message already routed a no-op, so replaying
twice never delivers twice.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from kernel import kafka
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from kernel.topics import Topics
from schemas import codec

_COLUMNS = (
    'id, received_at, topic, partition, "offset", stage, reason_code, reason, sender,'
    " message_id, replay_count, replayed_at, length(original) AS size"
)


async def list_dead_letters(
    conn: Connection,
    *,
    reason: str | None = None,
    sender: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM dead_letters"  # noqa: S608 (constant columns)
        " WHERE ($1::text IS NULL OR reason_code = $1) AND ($2::text IS NULL OR sender = $2)"
        " AND ($3::timestamptz IS NULL OR received_at >= $3)"
        " AND ($4::timestamptz IS NULL OR received_at < $4)"
        " ORDER BY id LIMIT $5",
        reason,
        sender,
        since,
        until,
        limit,
    )
    return [dict(row) for row in rows]


async def show(conn: Connection, dead_letter_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, key, headers FROM dead_letters WHERE id = $1",  # noqa: S608
        dead_letter_id,
    )
    if row is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"there is no dead letter {dead_letter_id}")
    record = dict(row)
    record["key"] = record["key"].decode("utf-8", "replace") if record["key"] else None
    record["headers"] = json.loads(record["headers"])
    audit = await conn.fetch(
        "SELECT at, actor, detail->>'why' AS why FROM audit"
        " WHERE action = 'replay' AND subject = $1 ORDER BY at",
        f"dead-letter:{dead_letter_id}",
    )
    record["replays"] = [dict(a) for a in audit]
    return record


async def run(
    conn: Connection,
    producer: AIOKafkaProducer,
    topics: Topics,
    dead_letter_ids: Sequence[int],
    *,
    actor: str,
    why: str,
) -> list[dict[str, Any]]:
    """Republish each dead letter to its lane and audit it; return what was done."""
    if not actor.strip() or not why.strip():
        raise Rejected(ReasonCode.CONFIG_INVALID, "a replay needs who (--actor) and why (--why)")
    done: list[dict[str, Any]] = []
    for dead_letter_id in dead_letter_ids:
        row = await conn.fetchrow(
            "SELECT key, headers, original, message_id, topic FROM dead_letters WHERE id = $1",
            dead_letter_id,
        )
        if row is None:
            done.append({"id": dead_letter_id, "replayed": False, "reason": "no such dead letter"})
            continue
        headers = codec.stored_headers(row["headers"])
        # Asked for before it is published, so the router judges the replay at the moment
        # it first received these bytes (broker.ledger.seen), whichever comes first.
        await conn.execute(
            "UPDATE dead_letters SET replay_requested_at = coalesce(replay_requested_at, now())"
            " WHERE id = $1",
            dead_letter_id,
        )
        with kafka.mapped_errors("replaying to the submit topic failed"):
            sent = await producer.send_and_wait(
                topics.back_to(row["topic"]), row["original"], key=row["key"], headers=headers
            )
        async with conn.transaction():
            await conn.execute(
                "UPDATE dead_letters SET replay_count = replay_count + 1, replayed_at = now()"
                " WHERE id = $1",
                dead_letter_id,
            )
            await conn.execute(
                "INSERT INTO audit (actor, action, subject, detail)"
                " VALUES ($1, 'replay', $2, $3::jsonb)",
                actor,
                f"dead-letter:{dead_letter_id}",
                json.dumps(
                    {"why": why, "message_id": row["message_id"], "offset": sent.offset},
                    ensure_ascii=False,
                ),
            )
        done.append({"id": dead_letter_id, "replayed": True, "message_id": row["message_id"]})
    return done
