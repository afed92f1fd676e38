"""`lienthong reconcile`: read the ledger, every register and the unit topics, and list what
disagrees (broker.reconcile judges); exit 1 if anything does. `lienthong reconcile
acknowledge ID…` settles a dead letter that needs no replay, so it is no longer listed.

The database is read as lienthong_reporting, the role that reads every unit's register
(0012_privileges.sql names it for this), in one read-only snapshot; the topics afterwards,
as the Kafka admin, so they hold at least every copy that snapshot's ledger routed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import getpass
import json
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from broker import reconcile
from kernel import database, kafka
from kernel.database import Connection
from kernel.errors import LienthongError, Rejected
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, open_database, print_json
from lienthong.devstack import stack
from schemas import codec
from signing import endorsement

_VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


async def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    since: datetime.datetime | None = args.since
    conn = await open_database(settings, dbroles.REPORTING)
    try:
        books = await read_books(conn, since, grace=args.grace)
    finally:
        await conn.close()
    units = sorted({d.delivered_to for d in books.deliveries if d.delivered_to is not None})
    topics = await read_topics(
        stack.endpoints(settings).kafka, Topics(settings.topic_prefix), units, since
    )
    found = reconcile.compare(
        dataclasses.replace(books, topics=topics),
        grace=datetime.timedelta(seconds=args.grace),
    )
    if args.json:
        print_json({"discrepancies": [dataclasses.asdict(d) for d in found]})
    else:
        for d in found:
            print(f"{d.kind}  {d.unit or '-'}  {d.message_id or '-'}  {d.detail}")
        print(f"{len(found)} discrepancies")
    return EXIT_NO if found else EXIT_OK


async def read_books(
    conn: Connection, since: datetime.datetime | None, *, grace: float
) -> reconcile.Books:
    """One query per table, in one read-only snapshot. Registers are read whole for every
    year from `since` on: a gap is judged on a year's numbers from 1."""
    start = since or _EPOCH
    year = start.astimezone(_VIETNAM).year
    with database.mapped_errors("reading the books"):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            now: datetime.datetime = await conn.fetchval("SELECT now()")
            messages = await conn.fetch(
                "SELECT message_id, verdict, kind, sender FROM messages WHERE received_at >= $1",
                start,
            )
            deliveries = await conn.fetch(
                "SELECT d.message_id, d.recipient, d.delivered_to, d.state, m.verdict, d.updated_at"
                " FROM deliveries d JOIN messages m USING (message_id) WHERE m.received_at >= $1",
                start,
            )
            incoming = await conn.fetch(
                "SELECT unit, year, number, message_id, sender, kind, document_id, status, sent_at"
                " FROM incoming_register WHERE year >= $1",
                year,
            )
            outgoing = await conn.fetch(
                "SELECT unit, year, number, message_id, created_at FROM outgoing_register"
                " WHERE year >= $1",
                year,
            )
            answers = await conn.fetch(
                "SELECT unit, message_id, recipient, status_code FROM outgoing_status"
                " WHERE at >= $1",
                start,
            )
            counters = await conn.fetch(
                "SELECT unit, year, register, last FROM register_counters WHERE year >= $1", year
            )
            quarantined = await conn.fetch(
                "SELECT unit, message_id FROM incoming_quarantine"
                " WHERE received_at >= $1 AND message_id IS NOT NULL",
                start,
            )
            dead = await conn.fetch(
                "SELECT id, message_id, sender, reason_code, received_at, replay_count,"
                " acknowledged_at IS NOT NULL AS acknowledged"
                " FROM dead_letters WHERE received_at >= $1",
                start,
            )
            outbox = await conn.fetch(
                "SELECT unit, message_id, created_at, sent_at FROM outbox"
                " WHERE sent_at IS NULL OR created_at > now() - make_interval(secs => $1)",
                grace,
            )
            hosted = await conn.fetch("SELECT unit FROM connector_units")
    return reconcile.Books(
        now=now,
        since=since,
        verdicts={r["message_id"]: r["verdict"] for r in messages},
        deliveries=[reconcile.Delivery(**r) for r in deliveries],
        incoming=[reconcile.Incoming(**r) for r in incoming],
        outgoing=[reconcile.Outgoing(**r) for r in outgoing],
        answers=[reconcile.Answer(**r) for r in answers],
        counters=[reconcile.Counter(**r) for r in counters],
        quarantined=frozenset((r["unit"], r["message_id"]) for r in quarantined),
        dead_letters=[reconcile.DeadLetter(**r) for r in dead],
        outbox=[reconcile.Queued(**r) for r in outbox],
        hosted=frozenset(r["unit"] for r in hosted),
        topics={},
        senders={
            r["message_id"]: r["sender"]
            for r in messages
            if r["kind"] == "document" and r["verdict"] == "routed"
        },
    )


async def read_topics(
    admin: ClientConfig, topics: Topics, units: Iterable[str], since: datetime.datetime | None
) -> dict[str, reconcile.Topic]:
    """Each unit topic's copies, from `since` to its end offsets, by the message id in the
    router's endorsement (nothing else is decoded). A record without one (not the router's)
    is not a copy; the receiving connector quarantines it."""
    names = {topics.unit(u): u for u in units}
    if not names:
        return {}
    async with kafka.admin_client(admin) as client:
        with kafka.mapped_errors("describing the unit topics"):
            described = await client.describe_topics(sorted(names))
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in topic["partitions"]
    ]
    if not partitions:
        return {}
    registry = codec.Registry.load()
    consumer = AIOKafkaConsumer(
        **admin.aiokafka(), enable_auto_commit=False,
        max_partition_fetch_bytes=topics.max_message_bytes + 1024 * 1024,
    )  # fmt: skip
    with kafka.mapped_errors("reading the unit topics"):
        await consumer.start()
        try:
            consumer.assign(partitions)
            begins = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = dict(begins)
            if since is not None:
                at = int(since.timestamp() * 1000)
                found = await consumer.offsets_for_times(dict.fromkeys(partitions, at))
                starts = {tp: found[tp].offset if found[tp] else ends[tp] for tp in partitions}
            for tp in partitions:
                consumer.seek(tp, starts[tp])
            copies: dict[str, Counter[str]] = {name: Counter() for name in names}
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for tp, batch in (await consumer.getmany(*partitions, timeout_ms=500)).items():
                    for record in batch:
                        if record.offset < ends[tp]:
                            message_id = _delivered(registry, record.headers or ())
                            if message_id is not None:
                                copies[tp.topic][message_id] += 1
        finally:
            await consumer.stop()
    # Retention removes the oldest records first: a topic is whole from `since` when it
    # never lost any, or still holds one from before `since`.
    # A topic that could not be described was not read: nothing is judged missing from it.
    read = {tp.topic for tp in partitions}
    whole = {name: name in read for name in names}
    for tp in partitions:
        if begins[tp] > 0 and not starts[tp] > begins[tp]:
            whole[tp.topic] = False
    return {names[n]: reconcile.Topic(copies[n], whole[n]) for n in names}


def _delivered(registry: codec.Registry, headers: Iterable[tuple[str, bytes | None]]) -> str | None:
    """The message id the router's endorsement names (read, not verified: the operator's
    own view of the topic, nothing is accepted on its word)."""
    value = next((v for k, v in headers if k == codec.ENDORSEMENT_HEADER and v), None)
    if value is None:
        return None
    try:
        return endorsement.claimed(registry, value).message_id
    except LienthongError:
        return None


async def _acknowledge(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        done = await acknowledge(
            conn, args.ids, actor=args.actor or getpass.getuser(), why=args.why
        )
    finally:
        await conn.close()
    print_json(done)
    return EXIT_OK if all(d["acknowledged"] for d in done) else EXIT_NO


async def acknowledge(
    conn: Connection, dead_letter_ids: Iterable[int], *, actor: str, why: str
) -> list[dict[str, Any]]:
    """Settle dead letters without a replay, each with an audit entry saying who and why
    (as the router role, which replays them too); one already settled stays as it was."""
    if not actor.strip() or not why.strip():
        raise Rejected(ReasonCode.CONFIG_INVALID, "acknowledging needs who (--actor) and why")
    done: list[dict[str, Any]] = []
    with database.mapped_errors("acknowledging dead letters"):
        for dead_letter_id in dead_letter_ids:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT message_id, acknowledged_at FROM dead_letters WHERE id = $1 FOR UPDATE",
                    dead_letter_id,
                )
                if row is None or row["acknowledged_at"] is not None:
                    reason = "no such dead letter" if row is None else "acknowledged before"
                    done.append({"id": dead_letter_id, "acknowledged": False, "reason": reason})
                    continue
                await conn.execute(
                    "UPDATE dead_letters SET acknowledged_at = now() WHERE id = $1",
                    dead_letter_id,
                )
                await conn.execute(
                    "INSERT INTO audit (actor, action, subject, detail)"
                    " VALUES ($1, 'acknowledge', $2, $3::jsonb)",
                    actor,
                    f"dead-letter:{dead_letter_id}",
                    json.dumps({"why": why, "message_id": row["message_id"]}, ensure_ascii=False),
                )
            done.append(
                {"id": dead_letter_id, "acknowledged": True, "message_id": row["message_id"]}
            )
    return done


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def register(commands: Subparsers) -> None:
    command = commands.add_parser(
        "reconcile",
        help="compare the ledger, the registers and the unit topics; exit 1 on a discrepancy",
    )
    command.add_argument("--since", type=_moment, metavar="ISO-TIME")
    command.add_argument(
        "--grace", type=float, default=60.0, metavar="SECONDS",
        help="what is younger is in flight, not a discrepancy (default 60)",
    )  # fmt: skip
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_reconcile)
    actions = command.add_subparsers(dest="action", metavar="ACTION")
    settle = actions.add_parser(
        "acknowledge", help="settle dead letters that need no replay (audited)"
    )
    settle.add_argument("ids", type=int, nargs="+", metavar="ID")
    settle.add_argument("--why", required=True, help="recorded in the audit")
    settle.add_argument("--actor", help="who acknowledges (default: the OS user)")
    settle.set_defaults(handler=_acknowledge)
