"""What a bridge keeps (kernel/migrations/0017_gateways.sql), each row its gateway's own.

- `gateway_inbound`: each entry taken from the endpoint's pending lists, by the endpoint's
  id and the unit it was listed for (one docId is listed once per addressed unit, not
  always in the same poll): what it became here (or why it did not), its XML-DSig verdict,
  when it was acknowledged. Written before anything is acknowledged, so a restart never
  takes twice.
- `gateway_outbox`: the envelopes a bridge submits here, published from the table.
- `gateway_outbound`: what it carried to the endpoint, with the endpoint's DocId; statuses
  that come back name a document by its edXML DocumentId, which leads here to its id.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from kernel.database import Connection
from schemas import codec


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """An envelope to publish on this exchange."""

    message_id: str
    topic: str
    key: bytes
    value: bytes
    headers: codec.Headers


@dataclasses.dataclass(frozen=True, slots=True)
class Taken:
    """What an entry of the endpoint's list became: envelopes to publish, or a refusal."""

    kind: str
    remote_id: str
    message_id: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    document_id: str | None = None
    responds_to: str | None = None
    status_code: str | None = None
    xmldsig: str | None = None
    xmldsig_detail: str | None = None
    refused_reason: str | None = None
    refused_detail: str | None = None
    queued: tuple[Queued, ...] = ()


async def taken(
    conn: Connection, gateway: str, kind: str, remote_ids: Sequence[str]
) -> set[tuple[str, str]]:
    """Which of these endpoint ids this gateway already took, for which listed unit."""
    rows = await conn.fetch(
        "SELECT remote_id, recipient FROM gateway_inbound WHERE gateway = $1 AND kind = $2"
        " AND remote_id = ANY($3::text[])",
        gateway,
        kind,
        list(remote_ids),
    )
    return {(row["remote_id"], row["recipient"]) for row in rows}


class _TakenBefore(Exception):
    """Another run of the bridge recorded one of the entries first: undo this take."""


async def take(conn: Connection, gateway: str, entry: Taken, listed_for: Sequence[str]) -> bool:
    """Record an entry, once for each unit it was listed for, and queue its envelopes, in
    one transaction; False if another run of the bridge recorded any of them first (its
    envelopes are that run's; what is left is taken at the next poll)."""
    rows = [
        (gateway, entry.kind, entry.remote_id, unit, entry.message_id, entry.sender,
         list(entry.recipients), entry.document_id, entry.responds_to, entry.status_code,
         entry.xmldsig, entry.xmldsig_detail, entry.refused_reason, entry.refused_detail)
        for unit in dict.fromkeys(listed_for)
    ]  # fmt: skip
    try:
        async with conn.transaction():
            for row in rows:
                inserted = await conn.fetchval(
                    "INSERT INTO gateway_inbound (gateway, kind, remote_id, recipient,"
                    " message_id, sender, recipients, document_id, responds_to, status_code,"
                    " xmldsig, xmldsig_detail, refused_reason, refused_detail)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    *row,
                )
                if not inserted:
                    raise _TakenBefore
            await queue(conn, gateway, entry.queued, remote=(entry.kind, entry.remote_id))
    except _TakenBefore:
        return False
    return True


async def queue(
    conn: Connection,
    gateway: str,
    queued: Sequence[Queued],
    *,
    remote: tuple[str, str] | None = None,
) -> None:
    """Envelopes to publish; one already queued under its id stays as it was."""
    await conn.executemany(
        "INSERT INTO gateway_outbox (gateway, message_id, remote_kind, remote_id, topic, key,"
        " value, headers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT DO NOTHING",
        [
            (gateway, q.message_id, remote[0] if remote else None, remote[1] if remote else None,
             q.topic, q.key, q.value, json.dumps([[k, v.hex()] for k, v in q.headers]))
            for q in queued
        ],
    )  # fmt: skip


async def unpublished(conn: Connection, gateway: str, limit: int = 200) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT message_id, topic, key, value, headers FROM gateway_outbox"
        " WHERE gateway = $1 AND published_at IS NULL ORDER BY created_at, message_id LIMIT $2",
        gateway,
        limit,
    )
    return [dict(row) for row in rows]


def headers_of(stored: str) -> codec.Headers:
    return [(key, bytes.fromhex(value)) for key, value in json.loads(stored)]


async def mark_published(conn: Connection, gateway: str, message_ids: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE gateway_outbox SET published_at = now() WHERE gateway = $1"
        " AND message_id = ANY($2::text[]) AND published_at IS NULL",
        gateway,
        list(message_ids),
    )


async def to_acknowledge(conn: Connection, gateway: str) -> list[dict[str, Any]]:
    """Entries taken and not yet acknowledged whose every envelope is published (a refused
    entry has none): durable here, so the endpoint may forget them."""
    rows = await conn.fetch(
        "SELECT i.kind, i.remote_id FROM gateway_inbound i WHERE i.gateway = $1"
        " AND i.acknowledged_at IS NULL AND i.acknowledgement_refused IS NULL"
        " AND NOT EXISTS (SELECT FROM gateway_outbox o"
        " WHERE o.gateway = i.gateway AND o.remote_kind = i.kind AND o.remote_id = i.remote_id"
        " AND o.published_at IS NULL) GROUP BY i.kind, i.remote_id ORDER BY min(i.taken_at)"
        " LIMIT 500",
        gateway,
    )
    return [dict(row) for row in rows]


async def mark_acknowledged(
    conn: Connection, gateway: str, kind: str, remote_id: str, *, refused: str | None = None
) -> None:
    """The endpoint took the acknowledgement; or `refused` it, which is kept instead (the
    entry is not acknowledged, and not asked about again)."""
    await conn.execute(
        "UPDATE gateway_inbound SET acknowledged_at = CASE WHEN $4::text IS NULL THEN now() END,"
        " acknowledgement_refused = $4 WHERE gateway = $1 AND kind = $2 AND remote_id = $3"
        " AND acknowledged_at IS NULL AND acknowledgement_refused IS NULL",
        gateway,
        kind,
        remote_id,
        refused,
    )


async def inbound_document(
    conn: Connection, gateway: str, message_id: str
) -> dict[str, Any] | None:
    """A document this gateway submitted, by the id it carries here."""
    row = await conn.fetchrow(
        "SELECT remote_id, sender, recipients, document_id FROM gateway_inbound"
        " WHERE gateway = $1 AND kind = 'edoc' AND message_id = $2",
        gateway,
        message_id,
    )
    return dict(row) if row is not None else None


async def received_document(
    conn: Connection, gateway: str, sender: str, document_id: str, recipient: str
) -> str | None:
    """The latest document from remote `sender` under this DocumentId this gateway
    submitted to `recipient`: what a recall request from that sender is about."""
    found: str | None = await conn.fetchval(
        "SELECT message_id FROM gateway_inbound WHERE gateway = $1 AND kind = 'edoc'"
        " AND sender = $2 AND document_id = $3 AND $4 = ANY(recipients)"
        " AND message_id IS NOT NULL ORDER BY taken_at DESC LIMIT 1",
        gateway,
        sender,
        document_id,
        recipient,
    )
    return found


async def carried(
    conn: Connection, gateway: str, message_id: str, recipient: str
) -> dict[str, Any] | None:
    """Whether an envelope was already carried to (or refused for) this remote recipient."""
    row = await conn.fetchrow(
        "SELECT remote_id, refused_reason FROM gateway_outbound WHERE gateway = $1"
        " AND message_id = $2 AND recipient = $3",
        gateway,
        message_id,
        recipient,
    )
    return dict(row) if row is not None else None


async def record_carried(
    conn: Connection,
    gateway: str,
    *,
    message_id: str,
    recipient: str,
    kind: str,
    sender: str,
    document_id: str | None,
    responds_to: str | None = None,
    status_code: str | None = None,
    remote_id: str | None = None,
    refused: tuple[str, str] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO gateway_outbound (gateway, message_id, recipient, kind, sender,"
        " document_id, responds_to, status_code, remote_id, refused_reason, refused_detail)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        gateway, message_id, recipient, kind, sender, document_id, responds_to, status_code,
        remote_id, refused[0] if refused else None, refused[1] if refused else None,
    )  # fmt: skip


async def sent_document(
    conn: Connection, gateway: str, sender: str, document_id: str
) -> list[dict[str, Any]]:
    """The latest document local `sender` had carried under this DocumentId: one row per
    remote recipient it was carried to."""
    rows = await conn.fetch(
        "SELECT message_id, recipient FROM gateway_outbound WHERE gateway = $1 AND kind = 'edoc'"
        " AND sender = $2 AND document_id = $3 AND remote_id IS NOT NULL"
        " AND message_id = (SELECT message_id FROM gateway_outbound WHERE gateway = $1"
        " AND kind = 'edoc' AND sender = $2 AND document_id = $3 AND remote_id IS NOT NULL"
        " ORDER BY at DESC LIMIT 1) ORDER BY recipient",
        gateway,
        sender,
        document_id,
    )
    return [dict(row) for row in rows]
