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
            envelope_sha256=incoming.sha256,
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
    """`seen_many` of one record's bytes."""
    return (await seen_many(conn, [(message_id, hashlib.sha256(envelope).digest())]))[0]


async def seen_many(conn: Connection, claims: Sequence[tuple[str | None, bytes]]) -> list[Seen]:
    """For each (message id, the envelope's SHA-256): the ledger's verdict on that id (an id nobody
    has proven yet: its verdict counts only once the signature holds), and when the router
    first received these exact bytes, if that moment is the one to judge them at: a message
    whose routing a crash cut short, one an operator released from review, a dead letter
    an operator replayed. Anything else is judged now, so nobody banks an early receive time
    by sending the same bytes twice. One query for the whole batch."""
    ids = [m if _storable(m) else None for m, _ in claims]
    digests = [digest for _, digest in claims]
    rows = await conn.fetch(
        "SELECT q.n, m.verdict, m.sender, h.state = 'released' AS released,"
        " least(CASE WHEN m.envelope_sha256 = q.digest AND (m.verdict = 'routing'"
        " OR h.state = 'released') THEN m.first_received_at END,"
        " (SELECT min(d.received_at) FROM dead_letters d WHERE d.envelope_sha256 = q.digest"
        " AND d.replay_requested_at IS NOT NULL)) AS first_received_at"
        " FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS q(message_id, digest, n)"
        " LEFT JOIN messages m USING (message_id) LEFT JOIN held h USING (message_id)"
        " WHERE q.message_id IS NOT NULL",
        ids,
        digests,
    )
    found = {
        row["n"]: Seen(
            verdict=row["verdict"],
            sender=row["sender"],
            released=bool(row["released"]),
            first_received_at=row["first_received_at"],
        )
        for row in rows
    }
    return [found.get(n, Seen()) for n in range(1, len(claims) + 1)]


async def stored(conn: Connection, asked: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (unit, sha256) pairs name content the unit put in the claim-check store
    (its connector records each upload in `claim_uploads`)."""
    wanted = sorted({(u, h) for u, h in asked if _storable(u) and _storable(h)})
    if not wanted:
        return set()
    rows = await conn.fetch(
        "SELECT unit, sha256 FROM claim_uploads WHERE (unit, sha256) IN"
        " (SELECT * FROM unnest($1::text[], $2::text[]))",
        [u for u, _ in wanted],
        [h for _, h in wanted],
    )
    return {(r["unit"], r["sha256"]) for r in rows}


async def originals(conn: Connection, message_ids: Sequence[str]) -> dict[str, Original]:
    """The messages statuses are about, with each delivery's state and timeline codes."""
    wanted = sorted({m for m in message_ids if _storable(m)})
    if not wanted:
        return {}
    messages = await conn.fetch(
        "SELECT message_id, sender, kind, document_id, verdict FROM messages"
        " WHERE message_id = ANY($1::text[])",
        wanted,
    )
    rows = await conn.fetch(
        "SELECT d.message_id, d.recipient, d.delivered_to, d.state,"
        " coalesce(array_agg(e.state) FILTER (WHERE e.state IS NOT NULL), '{}') AS codes"
        " FROM deliveries d LEFT JOIN delivery_events e"
        " ON e.message_id = d.message_id AND e.recipient = d.recipient"
        " AND e.reason_code IS DISTINCT FROM 'status_backwards'"
        " WHERE d.message_id = ANY($1::text[])"
        " GROUP BY d.message_id, d.recipient, d.delivered_to, d.state",
        wanted,
    )
    deliveries: dict[str, list[Delivery]] = {}
    for r in rows:
        deliveries.setdefault(r["message_id"], []).append(
            Delivery(r["recipient"], r["delivered_to"], r["state"], frozenset(r["codes"]))
        )
    return {
        m["message_id"]: Original(
            message_id=m["message_id"],
            sender=m["sender"],
            kind=m["kind"],
            document_id=m["document_id"],
            verdict=m["verdict"],
            deliveries=tuple(deliveries.get(m["message_id"], ())),
        )
        for m in messages
    }


async def sent_documents(
    conn: Connection, asks: Sequence[tuple[str, str | None, str]]
) -> list[bool]:
    """For each (sender, document id, besides): whether `sender` had a document with this id
    routed, other than message `besides` (what a follow-up refers to)."""
    rows = await conn.fetch(
        "SELECT q.n FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY"
        " AS q(sender, document_id, besides, n)"
        " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.sender = q.sender"
        " AND m.document_id = q.document_id AND m.message_id <> q.besides"
        " AND m.kind <> 'status' AND m.verdict IN ('routing', 'routed'))",
        [_text(s) for s, _, _ in asks],
        [d if d and _storable(d) else None for _, d, _ in asks],
        [_text(b) for _, _, b in asks],
    )
    found = {row["n"] for row in rows}
    return [n in found for n in range(1, len(asks) + 1)]


@dataclasses.dataclass(slots=True)
class Writes:
    """What a batch records, gathered from its outcomes and written by `write` in one
    transaction, one set-based statement per table. Every row is idempotent (unique keys
    with ON CONFLICT), so a batch written again after a crash counts nothing twice."""

    messages: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    deliveries: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    refused_deliveries: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    events: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    moves: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    scans: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    decisions: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    held: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    dead_letters: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)

    def extend(self, other: Writes) -> None:
        for field in dataclasses.fields(self):
            getattr(self, field.name).extend(getattr(other, field.name))

    def message(self, facts: MessageFacts, verdict: str, refusal: Refusal | None) -> None:
        self.messages.append((
            facts.message_id, facts.kind, facts.sender, facts.document_id, facts.size,
            facts.created_at, verdict, refusal.reason.value if refusal else None,
            _text(refusal.message) if refusal else None, facts.responds_to, facts.source,
            facts.envelope_sha256, facts.received_at,
        ))  # fmt: skip

    def event(
        self,
        message_id: str,
        recipient: str,
        state: str,
        *,
        reason_code: str | None = None,
        detail: str | None = None,
        status_message_id: str | None = None,
    ) -> None:
        self.events.append((
            message_id, recipient, state, reason_code,
            _text(detail) if detail is not None else None, status_message_id,
        ))  # fmt: skip

    def routing(
        self,
        facts: MessageFacts,
        routes: Sequence[Route],
        refused: Sequence[tuple[str, Refusal]],
        *,
        paper_copy_required: bool = False,
    ) -> None:
        """The decision, written before any copy is produced (see `mark_routed`)."""
        self.message(facts, ROUTING, None)
        for route in routes:
            self.deliveries.append(
                (facts.message_id, route.requested, route.delivered_to, ROUTED, paper_copy_required)
            )
            if route.hops:
                self.event(
                    facts.message_id, route.requested, REDIRECTED, reason_code="unit_redirected",
                    detail=" -> ".join([*route.hops, route.delivered_to]),
                )  # fmt: skip
            self.event(facts.message_id, route.requested, ROUTED)
        for recipient, refusal in refused:
            self.refused_deliveries.append(
                (facts.message_id, recipient, REJECTED, refusal.reason.value)
            )
            self.event(
                facts.message_id, recipient, "02",
                reason_code=refusal.reason.value, detail=refusal.message,
            )  # fmt: skip

    def screening(self, message_id: str, decision: Decision, scans: Sequence[Scan]) -> None:
        """Every rule that matched, whatever was decided, and each attachment's malware scan:
        the ledger keeps the why."""
        self.scans.extend(
            (message_id, s.name, s.sha256, s.verdict, s.detail, s.scanner) for s in scans
        )
        self.decisions.extend(
            (message_id, h.rule, h.article, h.reason_code, h.action, h.field, _text(h.matched))
            for h in decision.hits
        )

    def hold(
        self, facts: MessageFacts, incoming: Incoming, decision: Decision, scans: Sequence[Scan]
    ) -> None:
        """Keep the envelope whole until an operator releases or rejects it."""
        self.message(facts, HELD, None)
        self.screening(facts.message_id, decision, scans)
        self.held.append(
            (facts.message_id, facts.sender, incoming.key, _headers_json(incoming),
             incoming.value, incoming.topic)
        )  # fmt: skip

    def status(
        self, facts: MessageFacts, status: StatusBody, delivery: Delivery, *, moves: bool
    ) -> None:
        """A status reply: its row (`routing` until `mark_routed`), a step on that delivery's
        timeline and, when it `moves` the delivery forward (the entitle stage decided), the
        new state."""
        self.message(facts, ROUTING, None)
        self.event(
            status.responds_to, delivery.recipient, status.status_code,
            reason_code=status.reason_code, detail=status.description,
            status_message_id=status.message_id,
        )  # fmt: skip
        if moves:
            self.moves.append((
                status.responds_to, delivery.recipient, status.status_code,
                status.reason_code, delivery.state,
            ))  # fmt: skip

    def rejected(
        self,
        facts: MessageFacts | None,
        refusal: Refusal,
        incoming: Incoming,
        *,
        claimed: tuple[str | None, str | None] = (None, None),
        timeline: tuple[str, str, str] | None = None,
    ) -> None:
        """A whole envelope refused: its dead letter, and its message row when its signature
        held (`facts`). An unauthenticated one gets no message row, whatever id it names (it
        must not touch a real message's verdict); its `claimed` (sender, message id) are
        kept on the dead letter only, for the operator. `timeline` (message, recipient,
        code) keeps a refused status on the delivery it tried to move."""
        if facts is not None:
            self.message(facts, REJECTED, refusal)
        if timeline is not None:
            about, recipient, code = timeline
            self.event(
                about, recipient, code, reason_code=refusal.reason.value,
                detail=refusal.message, status_message_id=facts.message_id if facts else None,
            )  # fmt: skip
        self.dead_letters.append((
            incoming.topic, incoming.partition, incoming.offset, incoming.key,
            _headers_json(incoming), incoming.value, refusal.stage, refusal.reason.value,
            _text(refusal.message),
            facts.sender if facts else _optional_text(claimed[0] or _key_text(incoming)),
            facts.message_id if facts else _optional_text(claimed[1]),
        ))  # fmt: skip


# Only the same sender's later judgement of its own message moves a verdict on; a routing
# cut short by a crash is taken up again by the same bytes. Anything else conflicting
# returns no row: the id is another record's (the other lane's, another router's).
_MESSAGES = (
    "INSERT INTO messages (message_id, kind, sender, document_id, size, created_at,"
    " verdict, reason_code, reason, responds_to, source, envelope_sha256, first_received_at)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],"
    " $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],"
    " $12::bytea[], $13::timestamptz[])"
    " ON CONFLICT (message_id) DO UPDATE SET verdict = EXCLUDED.verdict,"
    " reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason,"
    " received_at = now(), source = EXCLUDED.source"
    " WHERE messages.sender = EXCLUDED.sender AND ("
    "(messages.verdict IN ('rejected', 'held') AND EXCLUDED.verdict <> messages.verdict)"
    " OR (messages.verdict = 'routing' AND EXCLUDED.verdict = 'routing'"
    " AND messages.envelope_sha256 = EXCLUDED.envelope_sha256))"
    " RETURNING message_id"
)
_STATEMENTS = {
    "deliveries": "INSERT INTO deliveries (message_id, recipient, delivered_to, state,"
    " paper_copy_required) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (message_id, recipient) DO UPDATE"
    " SET delivered_to = EXCLUDED.delivered_to, state = EXCLUDED.state,"
    " reason_code = NULL, updated_at = now() WHERE deliveries.state = 'rejected'",
    "refused_deliveries": "INSERT INTO deliveries (message_id, recipient, state, reason_code)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, recipient) DO NOTHING",
    "events": "INSERT INTO delivery_events (message_id, recipient, state, reason_code, detail,"
    " status_message_id) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (message_id, recipient, state) DO NOTHING",
    # Decided against the state the entitle stage saw: a concurrent change makes it a no-op.
    "moves": "UPDATE deliveries SET state = $3, reason_code = $4, updated_at = now()"
    " WHERE message_id = $1 AND recipient = $2 AND state = $5",
    "scans": "INSERT INTO malware_scans (message_id, attachment, sha256, verdict, detail,"
    " scanner) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    "decisions": "INSERT INTO policy_decisions (message_id, rule_id, article, reason_code,"
    " action, field, matched) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    "held": "INSERT INTO held (message_id, sender, key, headers, original, topic)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (message_id) DO NOTHING",
    "dead_letters": 'INSERT INTO dead_letters (topic, partition, "offset", key, headers,'
    " original, stage, reason_code, reason, sender, message_id, envelope_sha256)"
    " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, sha256($6))"
    ' ON CONFLICT (topic, partition, "offset") DO UPDATE SET stage = EXCLUDED.stage',
}


async def write(conn: Connection, batch: Sequence[Writes]) -> list[bool]:
    """All of a batch's rows in one transaction: the messages in one set-based statement,
    then a pipelined `executemany` per table, in the order their keys refer to each other.
    Returns, for each `Writes`, whether it holds its message: False for a routing whose id
    another record took first (the same id on the other lane, or from another router),
    whose other rows are then not written; that record is a duplicate."""
    async with conn.transaction():
        rows = [row for writes in batch for row in writes.messages]
        taken: set[str] = set()
        if rows:
            columns = [list(column) for column in zip(*rows, strict=True)]
            taken = {r["message_id"] for r in await conn.fetch(_MESSAGES, *columns)}
        holds = [
            all(row[0] in taken for row in writes.messages if row[6] == ROUTING) for writes in batch
        ]
        merged = Writes()
        for writes, held in zip(batch, holds, strict=True):
            if held:
                merged.extend(writes)
        for name, statement in _STATEMENTS.items():
            if rows := getattr(merged, name):
                await conn.executemany(statement, rows)
    return holds


async def mark_routed(conn: Connection, message_ids: Sequence[str]) -> None:
    """Every copy is on its unit topic: a repeat of these messages is now a duplicate."""
    await conn.execute(
        "UPDATE messages SET verdict = 'routed'"
        " WHERE message_id = ANY($1::text[]) AND verdict = 'routing'",
        list(message_ids),
    )


def _headers_json(incoming: Incoming) -> str:
    """Headers as stored: keys as text (jsonb holds no NUL either), values hex, null kept."""
    return json.dumps([[_text(k), v.hex() if v is not None else None] for k, v in incoming.headers])


def _optional_text(value: str | None) -> str | None:
    return _text(value) if value is not None else None


def _key_text(incoming: Incoming) -> str | None:
    """The record key: the unit the record was published as (what Kafka's ACLs vouch for)."""
    return incoming.key.decode("utf-8", "replace") if incoming.key else None


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
