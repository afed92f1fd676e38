"""`lienthong peer run`: federation with another lienthong exchange (`connectors.peer`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.peer import Link
from kernel import kafka, metrics
from kernel.errors import ConfigurationError
from kernel.kafka import ClientConfig
from kernel.settings import ROUTER_ID, Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.common import EXIT_OK, Subparsers
from lienthong.devstack import stack


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.metrics:
        metrics.serve(settings.metrics_port)
    if not ROUTER_ID.match(args.peer_router_id):
        raise ConfigurationError(f"{args.peer_router_id!r} is not a router id")
    user = Topics(settings.topic_prefix).gateway_user(args.gateway)
    async with Link(
        settings, args.gateway, local_config=kafka.client_config(settings, user),
        peer_config=ClientConfig.load(Path(args.peer_config)), peer_prefix=args.peer_prefix,
        peer_router_id=args.peer_router_id,
        dsn=dbroles.gateway_dsn(stack.database_roles_dir(settings), args.gateway).reveal(),
        peer_identity=Path(args.peer_identity) if args.peer_identity else None,
    ) as link:  # fmt: skip
        await link.run(handle_signals=True)
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add `lienthong peer`."""
    parser = commands.add_parser("peer", help="federation with another lienthong exchange")
    actions = parser.add_subparsers(dest="peer_action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="carry both ways until SIGTERM")
    run.add_argument(
        "--gateway", required=True, help="the directory's name for the peer (its units' gateway)"
    )
    run.add_argument(
        "--peer-config", required=True, metavar="FILE",
        help="the peer's client config for its gateway principal for us (its operator's "
        "`lienthong kafka client-config --gateway NAME --format json`)",
    )  # fmt: skip
    run.add_argument("--peer-prefix", required=True, help="the peer's LIENTHONG_TOPIC_PREFIX")
    run.add_argument(
        "--peer-router-id", default="lienthong-router", help="the peer's LIENTHONG_ROUTER_ID"
    )
    run.add_argument(
        "--peer-identity", metavar="DIR",
        help="the peer's gateway certificate for us (names our units): our router's "
        "refusals of the peer's documents are told there as 02s from our units",
    )  # fmt: skip
    run.add_argument("--metrics", action="store_true", help="serve /metrics")
    run.set_defaults(handler=_run)
