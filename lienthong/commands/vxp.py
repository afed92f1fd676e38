"""`lienthong vxp credentials create | list | rotate | revoke`: the agency systems that speak
the national axis protocol to a connector (/vxp).

The secret is printed once, at creation or rotation, as JSON the system's operator copies
into its configuration; lienthong keeps it sealed (`connectors.vxp.systems`).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from connectors.vxp import systems
from kernel.settings import Settings
from lienthong import dbroles
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, open_database, print_json

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
