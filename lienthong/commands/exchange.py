"""The exchange from the command line: `router run`, `connector run`, `send`, `inbox list`,
`status post`."""

from __future__ import annotations

import argparse
from pathlib import Path

import structlog
import yaml
from aiokafka.admin import AIOKafkaAdminClient

from broker.service import Router
from connectors import api, packing, registers
from connectors.service import Connector
from kernel import kafka, metrics
from kernel.errors import Rejected
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands import credentials
from lienthong.commands.common import (
    EXIT_NO,
    EXIT_OK,
    Subparsers,
    open_connector_database,
    print_json,
)
from lienthong.devstack import stack


async def _router_run(args: argparse.Namespace, settings: Settings) -> int:
    if args.metrics:
        metrics.serve(settings.metrics_port)
    user = Topics(settings.topic_prefix).router_user(settings.router_name)
    async with Router(
        settings, kafka_config=kafka.client_config(settings, user),
        dsn=stack.service_dsn(settings, dbroles.ROUTER).reveal(),
    ) as router:  # fmt: skip
        await router.run(handle_signals=True)
    return EXIT_OK


async def _router_health(_args: argparse.Namespace, settings: Settings) -> int:
    """Healthy when the router group has members on a reachable cluster."""
    found = stack.endpoints(settings)
    group = Topics(settings.topic_prefix).router_group
    async with kafka.admin_client(found.kafka) as client:
        members = await _group_members(client, group)
    print_json({"group": group, "members": members, "healthy": members > 0})
    return EXIT_OK if members > 0 else EXIT_NO


async def _group_members(client: AIOKafkaAdminClient, group: str) -> int:
    with kafka.mapped_errors("describing the router group failed"):
        described = await client.describe_consumer_groups([group])
    count = 0
    for response in described:
        for entry in response.groups:
            count += len(entry[-1]) if isinstance(entry[-1], list) else 0
    return count


async def _connector_run(args: argparse.Namespace, settings: Settings) -> int:
    if args.metrics:
        metrics.serve(settings.metrics_port)
    async with (
        Connector(
            settings,
            args.units,
            kafka_configs=unit_configs(settings, args.units),
            dsn=(await stack.connector_dsn(settings, args.units)).reveal(),
        ) as connector,
        api.serving(connector, args.host, args.port or settings.connector_port) as port,
    ):
        structlog.get_logger(__name__).info("connector api", url=f"http://{args.host}:{port}/")
        await connector.run(handle_signals=True)
    return EXIT_OK


def unit_configs(settings: Settings, units: list[str]) -> dict[str, ClientConfig]:
    """Each hosted unit's own Kafka client config (`lienthong kafka client-config --unit`)."""
    topics = Topics(settings.topic_prefix)
    return {unit: kafka.client_config(settings, topics.unit_user(unit)) for unit in units}


async def _one_off(settings: Settings, unit: str) -> Connector:
    connector = Connector(
        settings, [unit], kafka_configs=unit_configs(settings, [unit]),
        dsn=(await stack.connector_dsn(settings, [unit])).reveal(),
    )  # fmt: skip
    await connector.start(consume=False)
    return connector


async def _send(args: argparse.Namespace, settings: Settings) -> int:
    document = (
        Path(args.edxml).read_bytes()
        if args.edxml
        else packing.edxml_from_fields(args.sender, _fields(Path(args.fields)), args.to)
    )
    connector = await _one_off(settings, args.sender)
    try:
        body, number = await connector.send(
            args.sender,
            document,
            args.to,
            [packing.attachment(Path(f)) for f in args.attach],
            check_first=True,  # as the API: what the router would surely refuse takes no number
        )
    finally:
        await connector.stop()
    if args.json:
        print_json({"message_id": body.message_id, "number": number, "kind": body.kind})
    else:
        print(body.message_id)
    return EXIT_OK


def _fields(path: Path) -> dict[str, object]:
    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise Rejected(ReasonCode.EDXML_INVALID_VALUE, f"{path}: {exc}") from None
    if not isinstance(fields, dict):
        raise Rejected(ReasonCode.EDXML_INVALID_VALUE, f"{path}: expected a mapping of fields")
    return fields


async def _status_post(args: argparse.Namespace, settings: Settings) -> int:
    connector = await _one_off(settings, args.unit)
    try:
        status = await connector.post_status(args.unit, args.message, args.code, args.reason)
    finally:
        await connector.stop()
    print_json({"status_id": status.message_id, "message_id": args.message, "code": args.code})
    return EXIT_OK


async def _follow_up(args: argparse.Namespace, settings: Settings) -> int:
    connector = await _one_off(settings, args.sender)
    try:
        body, number = await connector.follow_up(
            args.sender,
            args.message,
            args.kind,
            reason=args.reason,
            fields=_fields(Path(args.fields)) if args.fields else None,
            attachments=[packing.attachment(Path(f)) for f in args.attach],
        )
    finally:
        await connector.stop()
    print_json({"message_id": body.message_id, "number": number, "kind": body.kind})
    return EXIT_OK


async def _inbox_list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_connector_database(settings, [args.unit])
    try:
        entries = await registers.incoming_list(conn, args.unit)
    finally:
        await conn.close()
    if args.json:
        print_json(entries)
    else:
        for e in entries:
            print(
                f"{e['year']}/{e['number']:>5}  {e['status']}  {e['sender']}  {e['subject'] or ''}"
            )
    return EXIT_OK


async def _inbox_show(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_connector_database(settings, [args.unit])
    try:
        entry = await registers.incoming_entry(conn, args.unit, args.message)
    finally:
        await conn.close()
    if entry is None:
        print_json({"unit": args.unit, "message_id": args.message, "found": False})
        return EXIT_NO
    entry["edxml"] = bytes(entry["edxml"]).decode("utf-8", "replace")
    for attachment in entry["attachments"]:
        attachment.pop("content", None)
    print_json(entry)
    return EXIT_OK


async def _inbox_quarantined(args: argparse.Namespace, settings: Settings) -> int:
    """Records the unit's connector refused to register, newest first, with their reasons."""
    conn = await open_connector_database(settings, [args.unit])
    try:
        entries = await registers.quarantined(conn, args.unit, limit=args.limit)
    finally:
        await conn.close()
    if args.json:
        print_json(entries)
    else:
        for e in entries:
            print(
                f"{e['received_at']:%Y-%m-%d %H:%M}  {e['reason_code']:<24} "
                f"{e['topic']}@{e['offset']}  {e['reason']}"
            )
    return EXIT_OK


async def _sent_show(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_connector_database(settings, [args.unit])
    try:
        entry = await registers.outgoing_entry(conn, args.unit, args.message)
    finally:
        await conn.close()
    print_json(entry or {"unit": args.unit, "message_id": args.message, "found": False})
    return EXIT_OK if entry else EXIT_NO


def register(commands: Subparsers) -> None:
    router = commands.add_parser("router", help="the central router")
    router_actions = router.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = router_actions.add_parser("run", help="route until SIGTERM (drains and commits first)")
    run.add_argument("--metrics", action="store_true", help="serve /metrics on the metrics port")
    run.set_defaults(handler=_router_run)
    router_actions.add_parser("health", help="is a router consuming").set_defaults(
        handler=_router_health
    )

    connector = commands.add_parser("connector", help="an agency's connector")
    connector_actions = connector.add_subparsers(dest="action", required=True, metavar="ACTION")
    crun = connector_actions.add_parser("run", help="receive for these units until SIGTERM")
    crun.add_argument("--unit", dest="units", nargs="+", required=True, metavar="ORGANID")
    crun.add_argument("--metrics", action="store_true")
    crun.add_argument("--host", default="127.0.0.1", help="where the HTTP API listens")
    crun.add_argument("--port", type=int, help="default: LIENTHONG_CONNECTOR_PORT (8740)")
    crun.set_defaults(handler=_connector_run)
    credentials.register(connector_actions)

    send = commands.add_parser("send", help="send an edXML document; prints its message id")
    send.add_argument("--from", dest="sender", required=True, metavar="ORGANID")
    send.add_argument("--to", nargs="+", required=True, metavar="ORGANID")
    source = send.add_mutually_exclusive_group(required=True)
    source.add_argument("--edxml", metavar="FILE", help="a QCVN 102:2016 packet")
    source.add_argument("--fields", metavar="FILE", help="YAML or JSON fields: subject, …")
    send.add_argument("--attach", nargs="*", default=[], metavar="FILE")
    send.add_argument("--json", action="store_true")
    send.set_defaults(handler=_send)

    for kind in ("revoke", "update", "replace"):
        follow = commands.add_parser(kind, help=f"{kind} a document this unit sent")
        follow.add_argument("--from", dest="sender", required=True, metavar="ORGANID")
        follow.add_argument("--message", required=True, metavar="ID")
        follow.add_argument("--reason", required=True)
        if kind != "revoke":
            follow.add_argument("--fields", required=True, metavar="FILE")
            follow.add_argument("--attach", nargs="*", default=[], metavar="FILE")
        follow.set_defaults(handler=_follow_up, kind=kind, fields=None, attach=[])

    sent = commands.add_parser("sent", help="a unit's outgoing register")
    sent_actions = sent.add_subparsers(dest="action", required=True, metavar="ACTION")
    sent_show = sent_actions.add_parser("show", help="a sent document's delivery state")
    sent_show.add_argument("--unit", required=True, metavar="ORGANID")
    sent_show.add_argument("--message", required=True, metavar="ID")
    sent_show.set_defaults(handler=_sent_show)

    inbox = commands.add_parser("inbox", help="a unit's incoming register")
    inbox_actions = inbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = inbox_actions.add_parser("list", help="the incoming register, in order")
    listing.add_argument("--unit", required=True, metavar="ORGANID")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_inbox_list)
    show = inbox_actions.add_parser("show", help="one incoming document, its edXML and files")
    show.add_argument("--unit", required=True, metavar="ORGANID")
    show.add_argument("--message", required=True, metavar="ID")
    show.set_defaults(handler=_inbox_show)
    kept = inbox_actions.add_parser(
        "quarantined", help="records refused on the unit's topic and kept aside, with reasons"
    )
    kept.add_argument("--unit", required=True, metavar="ORGANID")
    kept.add_argument("--limit", type=int, default=100)
    kept.add_argument("--json", action="store_true")
    kept.set_defaults(handler=_inbox_quarantined)

    status = commands.add_parser("status", help="answer about a received document")
    status_actions = status.add_subparsers(dest="action", required=True, metavar="ACTION")
    post = status_actions.add_parser("post", help="post 02 (with --reason), 03, 04, 05 or 06")
    post.add_argument("--unit", required=True, metavar="ORGANID")
    post.add_argument("--message", required=True, metavar="ID")
    post.add_argument("--code", required=True)
    post.add_argument("--reason")
    post.set_defaults(handler=_status_post)
