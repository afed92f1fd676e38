"""The `lienthong` command: the edge where settings are loaded and logging is configured.

Exit status: 0 success, 1 a check said no (a rejected input, an unhealthy service),
2 the command could not run (bad environment or arguments), with the reason code printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog

from kernel import database, kafka, logs
from kernel.errors import LienthongError
from kernel.settings import Settings
from lienthong import demo
from lienthong.devstack import stack

EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2
Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


async def _dev_up(_args: argparse.Namespace, settings: Settings) -> int:
    found, started = await stack.up(settings)
    print(
        f"kafka     {found.kafka_bootstrap} ({'started' if started.kafka else 'already running'})"
    )
    print(f"postgres  {settings.for_log()['database_url'] or 'local'} "
          f"({'started' if started.postgres else 'already running'})")  # fmt: skip
    return EXIT_OK


async def _dev_down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = stack.down(settings, wipe=args.wipe)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if args.wipe:
        print(f"wiped the data under {settings.state_dir}")
    return EXIT_OK


async def _dev_status(args: argparse.Namespace, settings: Settings) -> int:
    report = await stack.status(settings)
    if args.json:
        _print_json(report)
    else:
        for name, facts in report.items():
            state = "ready" if facts.get("ready") else "DOWN"
            details = ", ".join(f"{k}={v}" for k, v in facts.items() if k != "ready")
            print(f"{name:<9} {state:<6} {details}")
    return EXIT_OK if all(facts.get("ready") for facts in report.values()) else EXIT_NO


async def _health(_args: argparse.Namespace, settings: Settings) -> int:
    """For probes: exit 0 only when Kafka answers metadata and PostgreSQL a query."""
    found = stack.endpoints(settings)
    result: dict[str, object] = {}
    try:
        result["kafka_brokers"] = await kafka.broker_count(found.kafka_bootstrap)
    except LienthongError as exc:
        result["kafka_error"] = str(exc)
    try:
        conn = await database.connect(found.database_url.reveal(), timeout=5)
        try:
            result["postgres"] = await conn.fetchval("SELECT version()")
        finally:
            await conn.close()
    except LienthongError as exc:
        result["postgres_error"] = str(exc)
    healthy = bool(result.get("kafka_brokers")) and "postgres" in result
    _print_json({"healthy": healthy, **result})
    return EXIT_OK if healthy else EXIT_NO


async def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    conn = await database.connect(stack.endpoints(settings).database_url.reveal())
    try:
        applied = await database.migrate(conn)
    finally:
        await conn.close()
    print(f"applied migrations: {applied}" if applied else "the schema is up to date")
    return EXIT_OK


async def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    found, _started = await stack.up(settings)
    message_id = await demo.run(found)
    print(
        f"lienthong demo: OK - message {message_id} went through Kafka at "
        f"{found.kafka_bootstrap} and the ledger database; stop the services with "
        "`lienthong dev down`"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lienthong", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser("dev", help="the local Kafka and PostgreSQL for development")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    dev_commands.add_parser("up", help="start (or reuse) Kafka and PostgreSQL").set_defaults(
        handler=_dev_up
    )
    down = dev_commands.add_parser("down", help="stop the local services")
    down.add_argument("--wipe", action="store_true", help="also delete their data")
    down.set_defaults(handler=_dev_down)
    status = dev_commands.add_parser("status", help="are the services up and answering")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_dev_status)

    commands.add_parser("health", help="check Kafka and PostgreSQL answer").set_defaults(
        handler=_health
    )
    db = commands.add_parser("db", help="the ledger database")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("migrate", help="apply pending migrations").set_defaults(
        handler=_migrate
    )
    commands.add_parser("demo", help="run the local demo exchange").set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except LienthongError as exc:
        print(f"lienthong: {exc}", file=sys.stderr)
        return EXIT_ERROR
    logs.configure(settings)
    structlog.get_logger(__name__).debug("settings", **settings.for_log())
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except LienthongError as exc:
        print(f"lienthong: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
