"""Operators decide on documents the policy held: release them on their way, or refuse them.

Release puts the original record back on the submit topic; the router then routes it
without holding it again. Refusal sends the sender a status 02 signed by the router. Both
are one-time (a held document is decided once) and written to the audit with who and why.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from aiokafka import AIOKafkaProducer

from broker import notices, producing
from kernel import kafka
from kernel.database import Connection
from kernel.errors import KafkaUnavailable, Rejected
from kernel.reasons import ReasonCode
from kernel.topics import Topics
from schemas import codec
from signing.identity import Identity


async def list_held(conn: Connection, *, state: str = "held") -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT h.message_id, h.sender, h.held_at, h.state, h.reviewed_by, h.why,"
        " coalesce(json_agg(json_build_object('rule', p.rule_id, 'article', p.article,"
        " 'field', p.field, 'matched', p.matched)) FILTER (WHERE p.rule_id IS NOT NULL),"
        " '[]') AS rules"
        " FROM held h LEFT JOIN policy_decisions p USING (message_id)"
        " WHERE h.state = $1 GROUP BY h.message_id ORDER BY h.held_at",
        state,
    )
    return [{**dict(r), "rules": json.loads(r["rules"])} for r in rows]


async def _decide(conn: Connection, message_id: str, state: str, actor: str, why: str) -> Any:
    if not actor.strip() or not why.strip():
        raise Rejected(ReasonCode.CONFIG_INVALID, "a review needs who (--actor) and why (--why)")
    row = await conn.fetchrow(
        "UPDATE held SET state = $2, reviewed_by = $3, reviewed_at = $4, why = $5"
        " WHERE message_id = $1 AND state = 'held' RETURNING key, headers, original, sender",
        message_id,
        state,
        actor,
        datetime.datetime.now(datetime.UTC),
        why,
    )
    if row is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"no document {message_id} is waiting for review")
    await conn.execute(
        "INSERT INTO audit (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        f"review-{state}",
        f"message:{message_id}",
        json.dumps({"why": why}, ensure_ascii=False),
    )
    return row


async def release(
    conn: Connection,
    producer: AIOKafkaProducer,
    topics: Topics,
    message_id: str,
    *,
    actor: str,
    why: str,
) -> None:
    """The decision is committed before the record goes back on the submit topic: the
    router must find it released when it reads the record, or it would hold it again."""
    async with conn.transaction():
        row = await _decide(conn, message_id, "released", actor, why)
    headers = codec.stored_headers(row["headers"])
    try:
        with kafka.mapped_errors("releasing to the submit topic failed"):
            await producer.send_and_wait(
                topics.submit, row["original"], key=row["key"], headers=headers
            )
    except KafkaUnavailable:
        # Not on its way after all: back to waiting, so the operator can release it again.
        await conn.execute(
            "UPDATE held SET state = 'held', reviewed_by = NULL, reviewed_at = NULL, why = NULL"
            " WHERE message_id = $1 AND state = 'released'",
            message_id,
        )
        raise


async def refuse(
    conn: Connection,
    producer: AIOKafkaProducer,
    topics: Topics,
    registry: codec.Registry,
    router: Identity,
    message_id: str,
    *,
    actor: str,
    why: str,
) -> None:
    async with conn.transaction():
        row = await _decide(conn, message_id, "rejected", actor, why)
        await conn.execute(
            "UPDATE messages SET verdict = 'rejected', reason_code = $2, reason = $3"
            " WHERE message_id = $1",
            message_id,
            ReasonCode.POLICY_SENSITIVE.value,
            why,
        )
        refusal = notices.notice(
            topics, registry, router,
            to_unit=row["sender"], about=message_id, about_recipient="*", code="02",
            reason=ReasonCode.POLICY_SENSITIVE, detail=f"refused on review: {why}",
        )  # fmt: skip
        await producing.send_all(producer, [refusal])
