"""The ledger in PostgreSQL: messages, deliveries and their timeline, dead letters.

Every write is idempotent (unique keys with ON CONFLICT), so a router that restarts or an
operator who replays never counts anything twice. A message first rejected and later
routed (after a replay) has its verdict moved forward, never back.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from broker.policy.malware import Scan
from broker.policy.rules import Decision
from broker.stages import Incoming, Refusal
from broker.stages.address import Route
from broker.stages.entitle import Delivery, Original
from kernel.database import Connection
from schemas.envelope import Body, EnvelopeBody, StatusBody

ROUTING, ROUTED, REJECTED, REDIRECTED = "routing", "routed", "rejected", "redirected"
HELD = "held"


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
    envelope_sha256: bytes
    received_at: datetime.datetime

    @classmethod
    def of(cls, body: Body, incoming: Incoming, received_at: datetime.datetime) -> MessageFacts:
        return cls(
            message_id=_text(body.message_id),
            kind=body.kind if isinstance(body, EnvelopeBody) else "status",
            sender=_text(body.sender),
            document_id=_text(body.document_id) if body.document_id is not None else None,
            size=len(incoming.value),
            created_at=body.created_at,
            responds_to=_text(body.responds_to) if isinstance(body, StatusBody) else None,
            source=f"{incoming.topic}/{incoming.partition}@{incoming.offset}",
            envelope_sha256=hashlib.sha256(incoming.value).digest(),
            received_at=received_at,
        )


def _text(value: str) -> str:
    """PostgreSQL text holds no NUL; a sender's string that has one is kept recognisable."""
    return value.replace("\x00", "\ufffd")


def _storable(value: str | None) -> bool:
    """Whether the ledger could hold `value` at all (lookups of anything else find nothing)."""
    return value is not None and "\x00" not in value


@dataclasses.dataclass(frozen=True, slots=True)
class Seen:
    """What the ledger knows of a message id before this record is judged."""

    verdict: str | None = None
    sender: str | None = None
    released: bool = False
    first_received_at: datetime.datetime | None = None
    """When the router first received these exact bytes (a replay is judged as of then)."""


async def seen(conn: Connection, message_id: str | None, envelope: bytes) -> Seen:
    """The ledger's verdict on `message_id` (an id nobody has proven yet: its verdict counts
    only once the signature holds), and when the router first received these exact bytes,
    if that moment is the one to judge them at: a message whose routing a crash cut short,
    one an operator released from review, a dead letter an operator replayed. Anything else
    is judged now, so nobody banks an early receive time by sending the same bytes twice."""
    if not _storable(message_id):
        return Seen()
    digest = hashlib.sha256(envelope).digest()
    row = await conn.fetchrow(
        "SELECT m.verdict, m.sender, h.state = 'released' AS released,"
        " least(CASE WHEN m.envelope_sha256 = $2 AND (m.verdict = 'routing'"
        " OR h.state = 'released') THEN m.first_received_at END,"
        " (SELECT min(d.received_at) FROM dead_letters d WHERE d.envelope_sha256 = $2"
        " AND d.replay_requested_at IS NOT NULL)) AS first_received_at"
        " FROM (SELECT $1::text AS message_id) q"
        " LEFT JOIN messages m USING (message_id) LEFT JOIN held h USING (message_id)",
        message_id,
        digest,
    )
    if row is None:
        return Seen()
    return Seen(
        verdict=row["verdict"],
        sender=row["sender"],
        released=bool(row["released"]),
        first_received_at=row["first_received_at"],
    )


async def original(conn: Connection, message_id: str) -> Original | None:
    """The message a status is about, with each delivery's state and timeline codes."""
    if not _storable(message_id):
        return None
    message = await conn.fetchrow(
        "SELECT message_id, sender, kind, document_id, verdict FROM messages WHERE message_id = $1",
        message_id,
    )
    if message is None:
        return None
    rows = await conn.fetch(
        "SELECT d.recipient, d.delivered_to, d.state,"
        " coalesce(array_agg(e.state) FILTER (WHERE e.state IS NOT NULL), '{}') AS codes"
        " FROM deliveries d LEFT JOIN delivery_events e"
        " ON e.message_id = d.message_id AND e.recipient = d.recipient"
        " AND e.reason_code IS DISTINCT FROM 'status_backwards'"
        " WHERE d.message_id = $1 GROUP BY d.recipient, d.delivered_to, d.state",
        message_id,
    )
    return Original(
        message_id=message["message_id"],
        sender=message["sender"],
        kind=message["kind"],
        document_id=message["document_id"],
        verdict=message["verdict"],
        deliveries=tuple(
            Delivery(r["recipient"], r["delivered_to"], r["state"], frozenset(r["codes"]))
            for r in rows
        ),
    )


async def sent_document(
    conn: Connection, sender: str, document_id: str | None, *, besides: str
) -> bool:
    """Whether `sender` had a document with this id routed (what a follow-up refers to)."""
    if not document_id or not _storable(document_id):
        return False
    found = await conn.fetchval(
        "SELECT 1 FROM messages WHERE sender = $1 AND document_id = $2 AND message_id <> $3"
        " AND kind <> 'status' AND verdict IN ('routing', 'routed') LIMIT 1",
        sender,
        document_id,
        besides,
    )
    return found is not None


async def _message(
    conn: Connection, facts: MessageFacts, verdict: str, refusal: Refusal | None
) -> None:
    # Only the same sender's later judgement of its own message moves a verdict on.
    await conn.execute(
        "INSERT INTO messages (message_id, kind, sender, document_id, size, created_at,"
        " verdict, reason_code, reason, responds_to, source, envelope_sha256,"
        " first_received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (message_id) DO UPDATE SET verdict = EXCLUDED.verdict,"
        " reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,"
        " received_at = now(), source = EXCLUDED.source"
        " WHERE messages.verdict IN ('rejected', 'held') AND EXCLUDED.verdict <> messages.verdict"
        " AND messages.sender = EXCLUDED.sender",
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
        facts.envelope_sha256,
        facts.received_at,
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
            _headers_json(incoming),
            incoming.value,
        )


async def mark_routed(conn: Connection, message_id: str) -> None:
    """Every copy is on its unit topic: a repeat of this message is now a duplicate."""
    await conn.execute(
        "UPDATE messages SET verdict = 'routed' WHERE message_id = $1 AND verdict = 'routing'",
        message_id,
    )


async def record_rejected(
    conn: Connection,
    facts: MessageFacts | None,
    refusal: Refusal,
    incoming: Incoming,
    *,
    claimed: tuple[str | None, str | None] = (None, None),
    timeline: tuple[str, str, str] | None = None,
) -> int:
    """A whole envelope refused: its dead letter, and its message row when its signature
    held (`facts`). An unauthenticated one gets no message row, whatever id it names (it
    must not touch a real message's verdict); its `claimed` (sender, message id) are kept
    on the dead letter only, for the operator. `timeline` (message, recipient, code) keeps
    a refused status on the delivery it tried to move."""
    async with conn.transaction():
        if facts is not None:
            await _message(conn, facts, REJECTED, refusal)
        if timeline is not None:
            about, recipient, code = timeline
            await _event(
                conn, about, recipient, code, reason_code=refusal.reason.value,
                detail=refusal.message, status_message_id=facts.message_id if facts else None,
            )  # fmt: skip
        dead_letter_id: int = await conn.fetchval(
            'INSERT INTO dead_letters (topic, partition, "offset", key, headers, original, stage,'
            " reason_code, reason, sender, message_id, envelope_sha256)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, sha256($6))"
            ' ON CONFLICT (topic, partition, "offset") DO UPDATE SET stage = EXCLUDED.stage'
            " RETURNING id",
            incoming.topic,
            incoming.partition,
            incoming.offset,
            incoming.key,
            _headers_json(incoming),
            incoming.value,
            refusal.stage,
            refusal.reason.value,
            _text(refusal.message),
            facts.sender if facts else _optional_text(claimed[0] or _key_text(incoming)),
            facts.message_id if facts else _optional_text(claimed[1]),
        )
    return dead_letter_id


def _headers_json(incoming: Incoming) -> str:
    """Headers as stored: keys as text (jsonb holds no NUL either), values hex, null kept."""
    return json.dumps([[_text(k), v.hex() if v is not None else None] for k, v in incoming.headers])


def _optional_text(value: str | None) -> str | None:
    return _text(value) if value is not None else None


def _key_text(incoming: Incoming) -> str | None:
    """The record key: the unit the record was published as (what Kafka's ACLs vouch for)."""
    return incoming.key.decode("utf-8", "replace") if incoming.key else None


async def record_status(
    conn: Connection, facts: MessageFacts, status: StatusBody, delivery: Delivery, *, moves: bool
) -> None:
    """A status reply: its row (`routing` until `mark_routed`), a step on that delivery's
    timeline and, when it `moves` the delivery forward (the entitle stage decided), the new
    state."""
    async with conn.transaction():
        await _message(conn, facts, ROUTING, None)
        await _event(
            conn, status.responds_to, delivery.recipient, status.status_code,
            reason_code=status.reason_code, detail=status.description,
            status_message_id=status.message_id,
        )  # fmt: skip
        if moves:
            # Decided against `delivery.state`: a concurrent change makes this a no-op.
            await conn.execute(
                "UPDATE deliveries SET state = $3, reason_code = $4, updated_at = now()"
                " WHERE message_id = $1 AND recipient = $2 AND state = $5",
                status.responds_to,
                delivery.recipient,
                status.status_code,
                status.reason_code,
                delivery.state,
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
