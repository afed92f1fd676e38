"""`lienthong console run`, `lienthong console admin create` and `lienthong console accounts
lock-due`.

The first provincial administrator is made here (the console has nobody to make it yet);
its one-time password is printed once and must be changed at the first login. The locking
job of Article 7 runs from here too, from cron or a Kubernetes CronJob. Both act as the
operator's login name and are written to `account_events`.
"""

from __future__ import annotations

import argparse
import datetime
import getpass

import structlog

from console import store
from console.accounts import Role
from console.server import Console
from kernel.errors import Rejected
from kernel.settings import Settings
from lienthong import dbroles
from lienthong.commands.common import (
    EXIT_NO,
    EXIT_OK,
    Subparsers,
    open_database,
    print_json,
    refusal,
)
from lienthong.devstack import stack


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


async def _admin_create(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        account, password = await store.create(
            conn,
            full_name=args.name,
            unit=args.unit,
            abbreviation=args.abbreviation,
            role=Role.PROVINCIAL_ADMIN,
            actor=_operator(),
            now=datetime.datetime.now(datetime.UTC),
        )
    except Rejected as exc:
        print_json({"name": args.name, "unit": args.unit, "ok": False, **refusal(exc)})
        return EXIT_NO
    finally:
        await conn.close()
    if args.json:
        print_json({"ok": True, **account.as_json(), "password": password})
    else:
        print(f"user name: {account.username}")
        print(f"password:  {password}")
        print("The password is shown this once and must be changed at the first login.")
    return EXIT_OK


async def _lock_due(args: argparse.Namespace, settings: Settings) -> int:
    conn = await open_database(settings, dbroles.OWNER)
    try:
        locked = await store.lock_due(
            conn, actor=_operator(), now=datetime.datetime.now(datetime.UTC)
        )
    finally:
        await conn.close()
    for account, reason in locked:
        print_json({"username": account.username, "unit": account.unit, "reason": reason})
    return EXIT_OK


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    dsn = stack.service_dsn(settings, dbroles.CONSOLE).reveal()
    async with Console(settings, dsn, host=args.host, port=args.port) as console:
        structlog.get_logger(__name__).info("console", url=console.url)
        await console.run(handle_signals=True)
    return EXIT_OK


def register(commands: Subparsers) -> None:
    group = commands.add_parser("console", help="the province's web console and its accounts")
    kinds = group.add_subparsers(dest="console_kind", required=True, metavar="WHAT")
    run = kinds.add_parser("run", help="serve the web console (LIENTHONG_CONSOLE_PORT, 8750)")
    run.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    run.add_argument("--port", type=int, default=None, help="overrides LIENTHONG_CONSOLE_PORT")
    run.set_defaults(handler=_run)
    admin = kinds.add_parser("admin", help="provincial administrators")
    admin_actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = admin_actions.add_parser(
        "create", help="a provincial administrator; prints its user name and password once"
    )
    create.add_argument("--name", required=True, help='the full name, e.g. "Cao Văn Trọng"')
    create.add_argument("--unit", required=True, metavar="ORGANID")
    create.add_argument(
        "--abbreviation",
        required=True,
        help="the unit's abbreviation ending every user name there (Article 6.2), e.g. stttt",
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_admin_create)
    accounts = kinds.add_parser("accounts", help="every account")
    account_actions = accounts.add_subparsers(dest="action", required=True, metavar="ACTION")
    lock_due = account_actions.add_parser(
        "lock-due", help="lock accounts unused 30 days after issue or idle 60 days (Article 7)"
    )
    lock_due.set_defaults(handler=_lock_due)
