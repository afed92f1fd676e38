"""`lienthong vxp credentials create | list | rotate | revoke`: the agency systems that speak
the national axis protocol to a connector (/vxp); `lienthong vxp bridge run`: this
exchange speaking it to the national axis, an LGSP or another lienthong (`connectors.vxp.bridge`).

The secret is printed once, at creation or rotation, as JSON the system's operator copies
into its configuration; lienthong keeps it sealed (`connectors.vxp.systems`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

import structlog

from connectors.vxp import systems
from connectors.vxp.bridge import POLL_SECONDS, Bridge, read_secret
from connectors.vxp.client import AxisClient
from kernel import kafka, metrics
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, open_database, print_json
from lienthong.devstack import stack

_SHOWN_ONCE = (
    "The secret is shown this once. The agency system's endpoint is http://HOST:PORT/vxp "
    "(the connector's API port)."
)


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    key = systems.ensure_key(systems.key_path(settings))
    conn = await open_database(settings, dbroles.OWNER)
    try:
        system, secret = await systems.create(
            conn, key, args.units, system_id=args.system_id, name=args.name,
            actor=getpass.getuser(),
        )  # fmt: skip
    finally:
        await conn.close()
    print_json({"system_id": system.id, "secret": secret})
    print(_SHOWN_ONCE, file=sys.stderr)
    return EXIT_OK


async def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    key = systems.ensure_key(systems.key_path(settings))
    conn = await open_database(settings, dbroles.OWNER)
    try:
        rotated = await systems.rotate(conn, key, args.system_id, actor=getpass.getuser())
    finally:
        await conn.close()
    if rotated is None:
        print_json({"system_id": args.system_id, "found": False})
        return EXIT_NO
    system, secret = rotated
    print_json({"system_id": system.id, "secret": secret})
    print("The old secret no longer works. " + _SHOWN_ONCE, file=sys.stderr)
    return EXIT_OK


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        found = await systems.listing(conn)
    finally:
        await conn.close()
    if args.json:
        print_json([s.as_json() for s in found])
    else:
        for s in found:
            state = f"revoked {s.revoked_at:%Y-%m-%d %H:%M}" if s.revoked_at else "active"
            used = f"{s.last_used_at:%Y-%m-%d %H:%M}" if s.last_used_at else "never used"
            print(f"{s.id}  {state:<24}  {used:<16}  {' '.join(s.units)}  {s.name}")
    return EXIT_OK


async def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        system = await systems.revoke(conn, args.system_id, actor=getpass.getuser())
    finally:
        await conn.close()
    if system is None:
        print_json({"system_id": args.system_id, "found": False})
        return EXIT_NO
    print_json(system.as_json())
    return EXIT_OK


def _secret(path: Path) -> str:
    """The system's secret from a file only its owner reads (never a command line)."""
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigurationError(
                f"{path} holds a secret but others may read it", hint=f"chmod 600 {path}"
            )
        return read_secret(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the secret file {path}: {exc}") from exc


async def _bridge_run(args: argparse.Namespace, settings: Settings) -> int:
    if args.metrics:
        metrics.serve(settings.metrics_port)
    user = Topics(settings.topic_prefix).gateway_user(args.gateway)
    client = AxisClient(args.endpoint, args.system_id, _secret(Path(args.secret_file)))
    async with Bridge(
        settings, args.gateway, client, kafka_config=kafka.client_config(settings, user),
        dsn=dbroles.gateway_dsn(stack.database_roles_dir(settings), args.gateway).reveal(),
        poll_seconds=args.poll_seconds,
    ) as bridge:  # fmt: skip
        structlog.get_logger(__name__).info(
            "bridge running", gateway=args.gateway, endpoint=args.endpoint
        )
        await bridge.run(handle_signals=True)
    return EXIT_OK


def register(commands: Subparsers) -> None:
    """Add `lienthong vxp`."""
    parser = commands.add_parser("vxp", help="the national axis protocol served under /vxp")
    groups = parser.add_subparsers(dest="vxp_group", required=True, metavar="GROUP")
    group = groups.add_parser("credentials", help="the agency systems that speak it")
    actions = group.add_subparsers(dest="vxp_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a system acting for these units; prints its secret")
    create.add_argument("--unit", dest="units", nargs="+", required=True, metavar="ORGANID")
    create.add_argument(
        "--system-id", help="the id the system already uses (XroadVnpt-systemid); else one is made"
    )
    create.add_argument("--name", default="", help="which agency system it is")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="every system, revoked ones too; no secrets")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    rotate = actions.add_parser("rotate", help="a new secret (the old one stops working)")
    rotate.add_argument("system_id", metavar="SYSTEM_ID")
    rotate.set_defaults(handler=_rotate)
    revoke = actions.add_parser("revoke", help="refuse this system from now on")
    revoke.add_argument("system_id", metavar="SYSTEM_ID")
    revoke.set_defaults(handler=_revoke)

    bridge = groups.add_parser("bridge", help="this exchange as a client of an axis endpoint")
    bridge_actions = bridge.add_subparsers(dest="vxp_action", required=True, metavar="ACTION")
    run = bridge_actions.add_parser(
        "run", help="carry documents and statuses both ways until SIGTERM"
    )
    run.add_argument("--endpoint", required=True, help="the endpoint, like https://HOST/vxp")
    run.add_argument("--system-id", required=True, help="this exchange's system id there")
    run.add_argument(
        "--secret-file", required=True, metavar="FILE",
        help="a 0600 file with the system's secret (or the JSON `credentials create` printed)",
    )  # fmt: skip
    run.add_argument(
        "--gateway", default="vdxp",
        help="the directory's name for the gateway the remote units are behind (vdxp)",
    )  # fmt: skip
    run.add_argument(
        "--poll-seconds", type=float, default=POLL_SECONDS,
        help=f"how often getReceivedEdocList is asked (default {POLL_SECONDS})",
    )  # fmt: skip
    run.add_argument("--metrics", action="store_true", help="serve /metrics")
    run.set_defaults(handler=_bridge_run)
