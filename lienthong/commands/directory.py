"""`lienthong directory load FILE` and `directory resolve ORGANID [--at DATE]`."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from broker.directory import Directory, loader, store
from kernel import database
from kernel.errors import DirectoryError
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


async def _load(args: argparse.Namespace, settings: Settings) -> int:
    directory = loader.load(Path(args.file))
    conn = await database.connect(stack.service_dsn(settings, dbroles.OWNER).reveal())
    try:
        await database.migrate(conn, schema=settings.database_schema)
        await conn.execute(f'SET search_path TO "{settings.database_schema}"')
        count = await store.save(conn, directory)
    finally:
        await conn.close()
    print_json({"file": args.file, "loaded": count})
    return EXIT_OK


async def _directory(args: argparse.Namespace, settings: Settings) -> Directory:
    if args.file:
        return loader.load(Path(args.file))
    conn = await open_database(settings, dbroles.REPORTING)
    try:
        return await store.fetch(conn)
    finally:
        await conn.close()


async def _resolve(args: argparse.Namespace, settings: Settings) -> int:
    at = args.at or datetime.datetime.now(datetime.UTC).date()
    directory = await _directory(args, settings)
    try:
        found = directory.resolve(args.organ_id, at)
    except DirectoryError as exc:
        print_json({"requested": args.organ_id, "at": at, "ok": False, **refusal(exc)})
        return EXIT_NO
    print_json(
        {
            "requested": args.organ_id,
            "at": at,
            "ok": True,
            "redirected": found.redirected,
            "hops": list(found.hops),
            **store.as_json(found.unit),
        }
    )
    return EXIT_OK


def register(commands: Subparsers) -> None:
    group = commands.add_parser("directory", help="the unit directory")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = actions.add_parser("load", help="load a YAML or CSV directory into the database")
    load.add_argument("file", metavar="FILE")
    load.set_defaults(handler=_load)
    resolve = actions.add_parser("resolve", help="who receives for a unit code on a date")
    resolve.add_argument("organ_id", metavar="ORGANID")
    resolve.add_argument("--at", type=datetime.date.fromisoformat, metavar="YYYY-MM-DD")
    resolve.add_argument("--file", help="resolve from this file instead of the database")
    resolve.set_defaults(handler=_resolve)
