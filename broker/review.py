"""Operators decide on documents the policy held: release them on their way, or refuse them.

Release puts the original record back on the lane it came in on; the router then routes it
without holding it again. Refusal sends the sender a status 02 signed by the router, naming
the rules and articles that held the document. Both are one-time (a held document is
decided once) and written to the audit with who and why.
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

_RULES = (
    "SELECT p.message_id, p.rule_id AS rule, p.article, p.reason_code, p.action, p.field,"
    " p.matched FROM policy_decisions p WHERE p.message_id = ANY($1::text[])"
    " ORDER BY p.message_id, array_position(ARRAY['reject', 'hold', 'flag', 'paper'], p.action),"
    " p.rule_id, p.field, p.matched"
)
"""Every rule that matched a document, those that held it first: the review names what
actually held it, not whichever hit the join happened to give first."""


async def list_held(conn: Connection, *, state: str = "held") -> list[dict[str, Any]]:
    """Each document in `state`, with `rules` (every hit, strongest action first) and
    `held_by` (the hits whose action is hold: the rules and articles under review)."""
    rows = await conn.fetch(
        "SELECT message_id, sender, held_at, state, reviewed_by, why FROM held"
        " WHERE state = $1 ORDER BY held_at",
        state,
    )
    hits = await _rules(conn, [r["message_id"] for r in rows])
    return [
        {
            **dict(r),
            "rules": hits.get(r["message_id"], []),
            "held_by": [h for h in hits.get(r["message_id"], []) if h["action"] == "hold"],
        }
        for r in rows
    ]


async def _rules(conn: Connection, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in await conn.fetch(_RULES, message_ids):
        hit = dict(row)
        found.setdefault(hit.pop("message_id"), []).append(hit)
    return found


def _naming(held_by: list[dict[str, Any]]) -> str:
    """`rule A4.2-complaint-content (Đ4.2) matched “đơn tố cáo” in subject`, for each."""
    return "; ".join(
        f"rule {h['rule']} ({h['article']}) matched “{h['matched']}” in {h['field']}"
        for h in held_by
    )


async def _decide(conn: Connection, message_id: str, state: str, actor: str, why: str) -> Any:
    if not actor.strip() or not why.strip():
        raise Rejected(ReasonCode.CONFIG_INVALID, "a review needs who (--actor) and why (--why)")
    row = await conn.fetchrow(
        "UPDATE held SET state = $2, reviewed_by = $3, reviewed_at = $4, why = $5"
        " WHERE message_id = $1 AND state = 'held' RETURNING key, headers, original, sender,"
        " topic",
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
    """The decision is committed before the record goes back on its lane (`Topics.back_to`):
    the router must find it released when it reads the record, or it would hold it again."""
    async with conn.transaction():
        row = await _decide(conn, message_id, "released", actor, why)
    headers = codec.stored_headers(row["headers"])
    try:
        with kafka.mapped_errors("releasing to the submit topic failed"):
            await producer.send_and_wait(
                topics.back_to(row["topic"]), row["original"], key=row["key"], headers=headers
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
    """The 02 says it was refused on review (not that it still waits) and names the rules
    and articles that held it, with the reviewer's reason; the message row says the same."""
    async with conn.transaction():
        row = await _decide(conn, message_id, "rejected", actor, why)
        held_by = [
            h for h in (await _rules(conn, [message_id])).get(message_id, [])
            if h["action"] == "hold"
        ]  # fmt: skip
        detail = f"{_naming(held_by) or 'held for review'}; refused on review: {why}"
        await conn.execute(
            "UPDATE messages SET verdict = 'rejected', reason_code = $2, reason = $3"
            " WHERE message_id = $1",
            message_id,
            ReasonCode.POLICY_REFUSED_ON_REVIEW.value,
            detail,
        )
        refusal = notices.notice(
            topics, registry, router,
            to_unit=row["sender"], about=message_id, about_recipient="*", code="02",
            reason=ReasonCode.POLICY_REFUSED_ON_REVIEW, detail=detail,
        )  # fmt: skip
        await producing.send_all(producer, [refusal])
