"""`lienthong connector credentials create | list | revoke`: who may call a connector's API.

The token is printed once, at creation, and is not kept anywhere: only its hash is stored.
"""

from __future__ import annotations

import argparse
import getpass

from connectors import credentials
from kernel.settings import Settings
from lienthong import dbroles
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, open_database, print_json


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        credential, token = await credentials.create(
            conn, args.units, name=args.name, actor=getpass.getuser()
        )
    finally:
        await conn.close()
    if args.json:
        print_json({**credential.as_json(), "token": str(token)})
    else:
        print(f"id:    {credential.id}")
        print(f"units: {' '.join(credential.units)}")
        print(f"token: {token}")
        print("The token is shown this once; give it to the agency system as a Bearer token.")
    return EXIT_OK


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        found = await credentials.listing(conn)
    finally:
        await conn.close()
    if args.json:
        print_json([c.as_json() for c in found])
    else:
        for c in found:
            state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
            used = f"{c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never used"
            print(f"{c.id}  {state:<24}  {used:<16}  {' '.join(c.units)}  {c.name}")
    return EXIT_OK


async def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        credential = await credentials.revoke(conn, args.id, actor=getpass.getuser())
    finally:
        await conn.close()
    if credential is None:
        print_json({"id": args.id, "found": False})
        return EXIT_NO
    print_json(credential.as_json())
    return EXIT_OK


def register(connector_actions: Subparsers) -> None:
    """Add `credentials` under `lienthong connector`."""
    parser = connector_actions.add_parser(
        "credentials", help="the API credentials of agency systems"
    )
    actions = parser.add_subparsers(dest="credentials_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a credential acting for these units; prints it")
    create.add_argument("--unit", dest="units", nargs="+", required=True, metavar="ORGANID")
    create.add_argument("--name", default="", help="which agency system holds it")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="every credential, revoked ones too; no secrets")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="refuse this credential from now on")
    revoke.add_argument("id", metavar="ID")
    revoke.set_defaults(handler=_revoke)
