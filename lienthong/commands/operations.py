"""Operators' commands: `ledger show`, `replay …`, `review …`, `topics sync`."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

from broker import ledger, provisioning, replay, review
from broker.directory import store
from kernel import kafka
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, open_database, print_json
from lienthong.devstack import stack
from schemas import codec
from signing.identity import Identity


async def _ledger_show(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        found = await ledger.show(conn, args.message_id)
    finally:
        await conn.close()
    if found is None:
        print_json({"message_id": args.message_id, "found": False})
        return EXIT_NO
    if args.json:
        print_json(found)
    else:
        print(f"{found['message_id']}  {found['kind']}  {found['sender']}  {found['verdict']}")
        for recipient in found["recipients"]:
            steps = " -> ".join(e["state"] for e in recipient["timeline"])
            print(f"  {recipient['recipient']}  {recipient['state']}  {steps}")
    return EXIT_OK


async def _replay_list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        rows = await replay.list_dead_letters(
            conn, reason=args.reason, sender=args.sender, since=args.since, until=args.until,
            limit=args.limit,
        )  # fmt: skip
    finally:
        await conn.close()
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print(f"{row['id']:>6}  {row['received_at']}  {row['reason_code']}  {row['sender']}")
    return EXIT_OK


async def _replay_show(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        print_json(await replay.show(conn, args.id))
    finally:
        await conn.close()
    return EXIT_OK


async def _replay_run(args: argparse.Namespace, settings: Settings) -> int:
    ids: list[int] = list(args.ids)
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        if args.reason or args.sender:
            matches = await replay.list_dead_letters(
                conn, reason=args.reason, sender=args.sender, limit=10_000
            )
            ids += [row["id"] for row in matches if row["replay_count"] == 0 or args.again]
        if not ids:
            raise Rejected(
                ReasonCode.CONFIG_INVALID, "name dead letters by id, --reason or --sender"
            )
        producer = AIOKafkaProducer(
            **stack.endpoints(settings).kafka.aiokafka(), acks="all", enable_idempotence=True
        )
        with kafka.mapped_errors("cannot reach Kafka"):
            await producer.start()
        try:
            done = await replay.run(
                conn, producer, Topics(settings.topic_prefix), ids,
                actor=args.actor or getpass.getuser(), why=args.why,
            )  # fmt: skip
        finally:
            await producer.stop()
    finally:
        await conn.close()
    print_json(done)
    return EXIT_OK if all(d["replayed"] for d in done) else EXIT_NO


async def _topics_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Create the submit, dead-letter and every unit topic, in batches (existing ones stay),
    then make the ACLs exactly what the directory grants and delete the credentials of
    units it no longer lists."""
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        directory = await store.fetch(conn)
    finally:
        await conn.close()
    topics = Topics(settings.topic_prefix, settings.max_message_bytes)
    specs = topics.specs(sorted(directory.units), submit_partitions=settings.submit_partitions)
    created: list[str] = []
    admin = stack.endpoints(settings).kafka
    for start in range(0, len(specs), args.batch):
        created += await kafka.ensure_topics(admin, specs[start : start + args.batch])
    synced = await provisioning.sync(admin, topics, directory, today=datetime.date.today())
    short = await kafka.under_replicated(admin, [spec.name for spec in specs])
    if short and args.plan:
        plan = kafka.reassignment_plan(short, sorted(await kafka.broker_ids(admin)))
        Path(args.plan).write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    print_json(
        {
            "topics": len(specs),
            "created": len(created),
            "acls_created": len(synced.created),
            "acls_deleted": len(synced.deleted),
            "credentials_deleted": list(synced.users_deleted),
            "under_replicated": [
                {"topic": t.topic, "replicas": t.replicas, "wanted": t.wanted} for t in short
            ],
        }
    )
    if short:
        print(
            f"{len(short)} topics have fewer replicas than the cluster's default (made when it"
            " was smaller): write a plan with --plan FILE and run kafka-reassign-partitions.sh"
            " --execute --reassignment-json-file FILE, then raise min.insync.replicas",
            file=sys.stderr,
        )
        return EXIT_NO
    return EXIT_OK


async def _review_list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    try:
        print_json(await review.list_held(conn, state=args.state))
    finally:
        await conn.close()
    return EXIT_OK


async def _review_decide(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.ROUTER)
    producer = AIOKafkaProducer(
        **stack.endpoints(settings).kafka.aiokafka(), acks="all", enable_idempotence=True
    )
    with kafka.mapped_errors("cannot reach Kafka"):
        await producer.start()
    topics = Topics(settings.topic_prefix)
    actor = args.actor or getpass.getuser()
    try:
        if args.decision == "release":
            await review.release(conn, producer, topics, args.message_id, actor=actor, why=args.why)
        else:
            router = Identity.load(settings.keys_dir / "router", settings.router_id)
            await review.refuse(
                conn, producer, topics, codec.Registry.load(), router, args.message_id,
                actor=actor, why=args.why,
            )  # fmt: skip
    finally:
        await producer.stop()
        await conn.close()
    print_json({"message_id": args.message_id, "decision": args.decision, "by": actor})
    return EXIT_OK


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def register(commands: Subparsers) -> None:
    ledger_group = commands.add_parser("ledger", help="the router's ledger")
    ledger_actions = ledger_group.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = ledger_actions.add_parser(
        "show", help="one message: each recipient's state and timeline"
    )
    show.add_argument("message_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_ledger_show)

    group = commands.add_parser("replay", help="dead letters, and replaying them")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters, filtered")
    listing.add_argument("--reason", metavar="REASON_CODE")
    listing.add_argument("--sender", metavar="ORGANID")
    listing.add_argument("--since", type=_moment, metavar="ISO-TIME")
    listing.add_argument("--until", type=_moment, metavar="ISO-TIME")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_replay_list)
    one = actions.add_parser("show", help="one dead letter and its replays")
    one.add_argument("id", type=int)
    one.set_defaults(handler=_replay_show)
    run = actions.add_parser("run", help="replay dead letters to the submit topic (audited)")
    run.add_argument("ids", type=int, nargs="*", metavar="ID")
    run.add_argument("--reason", metavar="REASON_CODE", help="all not yet replayed, by reason")
    run.add_argument("--sender", metavar="ORGANID")
    run.add_argument("--again", action="store_true", help="include those replayed before")
    run.add_argument("--why", required=True, help="recorded in the audit")
    run.add_argument("--actor", help="who replays (default: the OS user)")
    run.set_defaults(handler=_replay_run)

    held = commands.add_parser("review", help="documents the policy held for review")
    held_actions = held.add_subparsers(dest="action", required=True, metavar="ACTION")
    held_list = held_actions.add_parser("list", help="held documents and the rules that held them")
    held_list.add_argument("--state", default="held", choices=("held", "released", "rejected"))
    held_list.set_defaults(handler=_review_list)
    for decision, text in (("release", "route it on"), ("reject", "refuse it with a 02")):
        decide = held_actions.add_parser(decision, help=f"{text} (audited)")
        decide.add_argument("message_id", metavar="ID")
        decide.add_argument("--why", required=True)
        decide.add_argument("--actor", help="who decides (default: the OS user)")
        decide.set_defaults(handler=_review_decide, decision=decision)

    topics = commands.add_parser("topics", help="Kafka topics")
    topic_actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    sync = topic_actions.add_parser(
        "sync", help="create the unit topics and provision their ACLs from the directory"
    )
    sync.add_argument("--batch", type=int, default=200)
    sync.add_argument(
        "--plan",
        metavar="FILE",
        help="write a partition reassignment (Kafka's JSON) giving under-replicated topics "
        "the replicas the cluster's default asks",
    )
    sync.set_defaults(handler=_topics_sync)
