"""`lienthong kafka client-config`: a principal's credentials, in the form a client reads.

Each call (re)stores the principal's SCRAM credential through the admin principal, grants
what the directory allows it, and keeps the client config lienthong's own services read in
`<LIENTHONG_KAFKA_CLIENTS>/<principal>.json` (0600). `-o FILE` also writes the requested
form there: `properties` for the Java clients and console tools, `librdkafka` for kcat and
confluent-kafka, `json` as lienthong keeps it.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from broker import provisioning
from broker.directory import store
from kernel import kafka
from kernel.kafka import ClientConfig
from kernel.secrets import write_private
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.common import EXIT_OK, Subparsers, open_database


async def _client_config(args: argparse.Namespace, settings: Settings) -> int:
    admin = kafka.admin_config(settings)
    topics = Topics(settings.topic_prefix, settings.max_message_bytes)
    config: ClientConfig
    if args.admin:
        config = admin
    elif args.router:
        config = await provisioning.router_client(
            settings, admin, topics, args.name or settings.router_name
        )
    else:
        conn = await open_database(settings, dbroles.REPORTING)
        try:
            directory = await store.fetch(conn)
        finally:
            await conn.close()
        if args.gateway:
            config = await provisioning.gateway_client(
                settings, admin, topics, directory, args.gateway
            )
        else:
            config = await provisioning.unit_client(
                settings, admin, topics, directory, args.unit, today=datetime.date.today()
            )
    text = render(config, args.format)
    if args.output is None:
        print(text, end="")
    else:
        write_private(args.output, text, own_dir=False)
        print(f"wrote {args.output} ({args.format}) for {config.principal}")
    return EXIT_OK


def render(config: ClientConfig, form: str) -> str:
    if form == "properties":
        return config.java_properties()
    if form == "librdkafka":
        return config.librdkafka_properties()
    return json.dumps(config.librdkafka(), indent=2) + "\n"


def register(commands: Subparsers) -> None:
    group = commands.add_parser("kafka", help="Kafka principals and their client configs")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    config = actions.add_parser(
        "client-config", help="create a principal's credentials if missing; write its config"
    )
    who = config.add_mutually_exclusive_group(required=True)
    who.add_argument("--unit", metavar="ORGANID", help="a unit of the directory")
    who.add_argument("--router", action="store_true", help="a router (see --name)")
    who.add_argument(
        "--gateway", metavar="NAME", help="a gateway of the directory (lienthong vxp bridge)"
    )
    who.add_argument("--admin", action="store_true", help="the cluster's admin principal")
    config.add_argument("--name", help="the router's name (default LIENTHONG_ROUTER_NAME)")
    config.add_argument("-o", "--output", type=Path, metavar="FILE")
    config.add_argument(
        "--format", choices=("properties", "librdkafka", "json"), default="properties"
    )
    config.set_defaults(handler=_client_config)
