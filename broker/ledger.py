"""The ledger in PostgreSQL: messages, deliveries and their timeline, dead letters.

Every write is idempotent (unique keys with ON CONFLICT), so a router that restarts or an
operator who replays never counts anything twice. A message first rejected and later
routed (after a replay) has its verdict moved forward, never back.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from typing import Any

from broker.policy.malware import Scan
from broker.policy.rules import Decision
from broker.stages import Incoming, Refusal
from broker.stages.address import Route
from kernel.database import Connection
from schemas.envelope import Body, EnvelopeBody, StatusBody

ROUTING, ROUTED, REJECTED, REDIRECTED = "routing", "routed", "rejected", "redirected"
HELD = "held"
# How far a delivery has come; 02 (refused) ends it. Recall and change codes (13, 15, 16)
# go on the timeline without moving the state.
_ADVANCE = (
    "UPDATE deliveries SET state = $3, reason_code = $4, updated_at = now()"
    " WHERE message_id = $1 AND recipient = $2"
    " AND coalesce(array_position(ARRAY['routed','01','03','04','05','06','02'], $3::text), 0)"
    " > coalesce(array_position(ARRAY['routed','01','03','04','05','06','02'], state), 0)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class MessageFacts:
    message_id: str
    kind: str
    sender: str
    document_id: str | None
    size: int
    created_at: datetime.datetime
    responds_to: str | None
    source: str

    @classmethod
    def of(cls, body: Body, incoming: Incoming) -> MessageFacts:
        return cls(
            message_id=body.message_id,
            kind=body.kind if isinstance(body, EnvelopeBody) else "status",
            sender=body.sender,
            document_id=body.document_id,
            size=len(incoming.value),
            created_at=body.created_at,
            responds_to=body.responds_to if isinstance(body, StatusBody) else None,
            source=f"{incoming.topic}/{incoming.partition}@{incoming.offset}",
        )


async def seen(conn: Connection, message_id: str) -> tuple[str | None, bool]:
    """(the ledger's verdict so far, whether an operator released it from review)."""
    row = await conn.fetchrow(
        "SELECT m.verdict, h.state = 'released' AS released FROM messages m"
        " LEFT JOIN held h USING (message_id) WHERE m.message_id = $1",
        message_id,
    )
    return (row["verdict"], bool(row["released"])) if row else (None, False)


async def _message(
    conn: Connection, facts: MessageFacts, verdict: str, refusal: Refusal | None
) -> None:
    await conn.execute(
        "INSERT INTO messages (message_id, kind, sender, document_id, size, created_at,"
        " verdict, reason_code, reason, responds_to, source)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (message_id) DO UPDATE SET verdict = EXCLUDED.verdict,"
        " reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,"
        " received_at = now(), source = EXCLUDED.source"
        " WHERE messages.verdict IN ('rejected', 'held') AND EXCLUDED.verdict <> messages.verdict",
        facts.message_id,
        facts.kind,
        facts.sender,
        facts.document_id,
        facts.size,
        facts.created_at,
        verdict,
        refusal.reason.value if refusal else None,
        refusal.message if refusal else None,
        facts.responds_to,
        facts.source,
    )


async def _event(
    conn: Connection,
    message_id: str,
    recipient: str,
    state: str,
    *,
    reason_code: str | None = None,
    detail: str | None = None,
    status_message_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO delivery_events (message_id, recipient, state, reason_code, detail,"
        " status_message_id) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (message_id, recipient, state) DO NOTHING",
        message_id,
        recipient,
        state,
        reason_code,
        detail,
        status_message_id,
    )


async def record_routing(
    conn: Connection,
    facts: MessageFacts,
    routes: Sequence[Route],
    refused: Sequence[tuple[str, Refusal]],
    *,
    paper_copy_required: bool = False,
) -> None:
    """The decision, written before any copy is produced (see `mark_routed`)."""
    async with conn.transaction():
        await _message(conn, facts, ROUTING, None)
        for route in routes:
            await conn.execute(
                "INSERT INTO deliveries (message_id, recipient, delivered_to, state,"
                " paper_copy_required) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (message_id, recipient) DO UPDATE"
                " SET delivered_to = EXCLUDED.delivered_to, state = EXCLUDED.state,"
                " reason_code = NULL, updated_at = now() WHERE deliveries.state = 'rejected'",
                facts.message_id,
                route.requested,
                route.delivered_to,
                ROUTED,
                paper_copy_required,
            )
            if route.hops:
                await _event(
                    conn, facts.message_id, route.requested, REDIRECTED,
                    reason_code="unit_redirected",
                    detail=" -> ".join([*route.hops, route.delivered_to]),
                )  # fmt: skip
            await _event(conn, facts.message_id, route.requested, ROUTED)
        for recipient, refusal in refused:
            await conn.execute(
                "INSERT INTO deliveries (message_id, recipient, state, reason_code)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, recipient) DO NOTHING",
                facts.message_id,
                recipient,
                REJECTED,
                refusal.reason.value,
            )
            await _event(
                conn, facts.message_id, recipient, "02",
                reason_code=refusal.reason.value, detail=refusal.message,
            )  # fmt: skip


async def record_screening(
    conn: Connection, message_id: str, decision: Decision, scans: Sequence[Scan]
) -> None:
    """Every rule that matched, whatever was decided, and each attachment's malware scan:
    the ledger keeps the why."""
    if not (scans or decision.hits):
        return
    await conn.executemany(
        "INSERT INTO malware_scans (message_id, attachment, sha256, verdict, detail, scanner)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [(message_id, s.name, s.sha256, s.verdict, s.detail, s.scanner) for s in scans],
    )
    await conn.executemany(
        "INSERT INTO policy_decisions (message_id, rule_id, article, reason_code, action, field,"
        " matched) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        [
            (message_id, h.rule, h.article, h.reason_code, h.action, h.field, h.matched)
            for h in decision.hits
        ],
    )


async def record_held(
    conn: Connection,
    facts: MessageFacts,
    incoming: Incoming,
    decision: Decision,
    scans: Sequence[Scan],
) -> None:
    """Keep the envelope whole until an operator releases or rejects it."""
    async with conn.transaction():
        await _message(conn, facts, HELD, None)
        await record_screening(conn, facts.message_id, decision, scans)
        await conn.execute(
            "INSERT INTO held (message_id, sender, key, headers, original)"
            " VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (message_id) DO NOTHING",
            facts.message_id,
            facts.sender,
            incoming.key,
            json.dumps([[k, v.hex()] for k, v in incoming.headers]),
            incoming.value,
        )


async def mark_routed(conn: Connection, message_id: str) -> None:
    """Every copy is on its unit topic: a repeat of this message is now a duplicate."""
    await conn.execute(
        "UPDATE messages SET verdict = 'routed' WHERE message_id = $1 AND verdict = 'routing'",
        message_id,
    )


async def record_rejected(
    conn: Connection, facts: MessageFacts | None, refusal: Refusal, incoming: Incoming
) -> int:
    """A whole envelope refused: its dead letter, and its message row when it could be read."""
    async with conn.transaction():
        if facts is not None:
            await _message(conn, facts, REJECTED, refusal)
        dead_letter_id: int = await conn.fetchval(
            'INSERT INTO dead_letters (topic, partition, "offset", key, headers, original, stage,'
            " reason_code, reason, sender, message_id)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11)"
            ' ON CONFLICT (topic, partition, "offset") DO UPDATE SET stage = EXCLUDED.stage'
            " RETURNING id",
            incoming.topic,
            incoming.partition,
            incoming.offset,
            incoming.key,
            json.dumps([[k, v.hex()] for k, v in incoming.headers]),
            incoming.value,
            refusal.stage,
            refusal.reason.value,
            refusal.message,
            facts.sender if facts else _key_text(incoming),
            facts.message_id if facts else None,
        )
    return dead_letter_id


def _key_text(incoming: Incoming) -> str | None:
    return incoming.key.decode("utf-8", "replace") if incoming.key else None


async def record_status(conn: Connection, facts: MessageFacts, status: StatusBody) -> None:
    """A status reply about an earlier message: its row, and a step on that delivery's timeline."""
    async with conn.transaction():
        await _message(conn, facts, ROUTED, None)
        recipient = await conn.fetchval(
            "SELECT recipient FROM deliveries WHERE message_id = $1"
            " AND (recipient = $2 OR delivered_to = $2) ORDER BY recipient = $2 DESC LIMIT 1",
            status.responds_to,
            status.sender,
        )
        target = recipient or status.sender
        await _event(
            conn, status.responds_to, target, status.status_code,
            reason_code=status.reason_code, detail=status.description,
            status_message_id=status.message_id,
        )  # fmt: skip
        # A delivery's state only moves forward, whatever order statuses are handled in.
        await conn.execute(
            _ADVANCE,
            status.responds_to,
            target,
            status.status_code,
            status.reason_code,
        )


async def show(conn: Connection, message_id: str) -> dict[str, Any] | None:
    """A message with each recipient's state and timeline, for `lienthong ledger show`."""
    message = await conn.fetchrow("SELECT * FROM messages WHERE message_id = $1", message_id)
    if message is None:
        return None
    deliveries = await conn.fetch(
        "SELECT recipient, delivered_to, state, reason_code, updated_at FROM deliveries"
        " WHERE message_id = $1 ORDER BY recipient",
        message_id,
    )
    events = await conn.fetch(
        "SELECT recipient, state, at, reason_code, detail FROM delivery_events"
        " WHERE message_id = $1 ORDER BY at, id",
        message_id,
    )
    policy = await conn.fetch(
        "SELECT rule_id, article, reason_code, action, field, matched FROM policy_decisions"
        " WHERE message_id = $1 ORDER BY at, rule_id",
        message_id,
    )
    scans = await conn.fetch(
        "SELECT attachment, sha256, verdict, detail, scanner, at FROM malware_scans"
        " WHERE message_id = $1 ORDER BY attachment",
        message_id,
    )
    return {
        **dict(message),
        "policy": [dict(p) for p in policy],
        "malware_scans": [dict(s) for s in scans],
        "recipients": [
            {
                **dict(d),
                "timeline": [
                    {k: v for k, v in dict(e).items() if k != "recipient"}
                    for e in events
                    if e["recipient"] == d["recipient"]
                ],
            }
            for d in deliveries
        ],
    }
