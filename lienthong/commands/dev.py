"""`lienthong dev up | down | status`, `health`, `db migrate | roles | connector-role` and
`demo`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from broker.policy.malware import Clamd
from kernel import database, kafka
from kernel.errors import ConfigurationError, LienthongError
from kernel.settings import Settings
from lienthong import dbroles, demo
from lienthong.commands.common import EXIT_NO, EXIT_OK, Subparsers, print_json
from lienthong.devstack import stack
from lienthong.devstack.console import LocalConsole, demo_account
from lienthong.devstack.postgres import LocalPostgres


def _sized(args: argparse.Namespace, settings: Settings) -> Settings:
    """--brokers N for this command; LIENTHONG_KAFKA_BROKERS=N for every later one."""
    return dataclasses.replace(settings, kafka_brokers=args.brokers or settings.kafka_brokers)


async def _up(args: argparse.Namespace, settings: Settings) -> int:
    settings = _sized(args, settings)
    found, started = await stack.up(settings)
    kafka_state = "started" if started.kafka else "already running"
    postgres_state = "started" if started.postgres else "already running"
    brokers = settings.kafka_brokers
    size = f", {brokers} brokers, each also a controller" if brokers > 1 else ""
    print(f"kafka     {found.kafka_bootstrap} ({kafka_state}{size})")
    print(f"postgres  {settings.for_log()['database_url'] or 'local'} ({postgres_state})")
    clamd_state = "started" if started.clamd else "already running"
    print(
        f"clamd     {found.clamd} ({clamd_state})"
        if found.clamd
        else "clamd     none (not scanning)"
    )
    if brokers > 1 and settings.local_kafka:
        print(f"          other commands reach it with LIENTHONG_KAFKA_BROKERS={brokers}")
    return EXIT_OK


async def _down(args: argparse.Namespace, settings: Settings) -> int:
    settings = _sized(args, settings)
    stopped = ["console"] if LocalConsole(settings).stop() else []
    stopped += stack.down(settings, wipe=args.wipe)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if args.wipe:
        print(f"wiped the data under {settings.state_dir}")
    return EXIT_OK


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    report = await stack.status(_sized(args, settings))
    if args.json:
        print_json(report)
    else:
        for name, facts in report.items():
            state = "ready" if facts.get("ready") else "DOWN"
            details = ", ".join(f"{k}={v}" for k, v in facts.items() if k != "ready")
            print(f"{name:<9} {state:<6} {details}")
    return EXIT_OK if all(facts.get("ready") for facts in report.values()) else EXIT_NO


async def _health(_args: argparse.Namespace, settings: Settings) -> int:
    """For probes: exit 0 only when Kafka answers metadata, PostgreSQL a query and clamd
    (when one is configured) a VERSION."""
    found = stack.endpoints(settings)
    result: dict[str, object] = {}
    try:
        result["kafka_brokers"] = await kafka.broker_count(found.kafka)
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
    if found.clamd is None:
        result["clamd"] = "none (attachments are not scanned)"
    else:
        try:
            result["clamd"] = await Clamd(found.clamd, timeout=5).version()
        except LienthongError as exc:
            result["clamd_error"] = str(exc)
    healthy = bool(result.get("kafka_brokers")) and "postgres" in result and "clamd" in result
    print_json({"healthy": healthy, **result})
    return EXIT_OK if healthy else EXIT_NO


def _admin_dsn(args: argparse.Namespace, settings: Settings) -> str:
    """An administrator's DSN, only for making roles: the file given, else the local
    cluster's bootstrap superuser."""
    if args.admin_dsn_file:
        path = Path(args.admin_dsn_file)
        if path.stat().st_mode & 0o077:
            raise ConfigurationError(
                f"{path} holds a password but others may read it", hint=f"chmod 600 {path}"
            )
        return path.read_text(encoding="utf-8").strip()
    if settings.local_postgres:
        return LocalPostgres(settings).dsn()
    raise ConfigurationError(
        "making roles on a server given by LIENTHONG_DATABASE_URL needs its administrator",
        hint="--admin-dsn-file FILE: a 0600 file holding a superuser's (or CREATEROLE) DSN",
    )


async def _roles(args: argparse.Namespace, settings: Settings) -> int:
    admin_dsn = _admin_dsn(args, settings)
    directory = stack.database_roles_dir(settings)
    admin = await database.connect(admin_dsn)
    try:
        made = await dbroles.create_roles(admin, base=admin_dsn, directory=directory)
    finally:
        await admin.close()
    print_json({role: str(dbroles.dsn_file(directory, role)) for role in made})
    return EXIT_OK


async def _connector_role(args: argparse.Namespace, settings: Settings) -> int:
    admin_dsn = _admin_dsn(args, settings)
    directory = stack.database_roles_dir(settings)
    admin = await database.connect(admin_dsn)
    owner = await database.connect(
        stack.service_dsn(settings, dbroles.OWNER).reveal(), schema=settings.database_schema
    )
    try:
        await dbroles.create_connector_role(
            admin, owner, args.name, args.units, base=admin_dsn, directory=directory
        )
    finally:
        await owner.close()
        await admin.close()
    role = dbroles.connector_role(args.name)
    print_json(
        {"role": role, "units": args.units, "dsn_file": str(dbroles.dsn_file(directory, role))}
    )
    return EXIT_OK


async def _gateway_role(args: argparse.Namespace, settings: Settings) -> int:
    admin_dsn = _admin_dsn(args, settings)
    directory = stack.database_roles_dir(settings)
    admin = await database.connect(admin_dsn)
    try:
        await dbroles.create_gateway_role(admin, args.name, base=admin_dsn, directory=directory)
    finally:
        await admin.close()
    role = dbroles.gateway_role(args.name)
    print_json({"role": role, "dsn_file": str(dbroles.dsn_file(directory, role))})
    return EXIT_OK


async def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    conn = await database.connect(stack.service_dsn(settings, dbroles.OWNER).reveal())
    try:
        applied = await database.migrate(conn, schema=settings.database_schema)
    finally:
        await conn.close()
    print(f"applied migrations: {applied}" if applied else "the schema is up to date")
    return EXIT_OK


async def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    found, _started = await stack.up(settings)
    await demo.run(settings, found)
    account, password = await demo_account(settings)
    console = LocalConsole(settings)
    await console.start()
    print(
        "\nlienthong demo: OK - documents went down and up the levels, receipts came back, "
        "the forged and the infected ones were refused.\n"
        f"\nThe console:  {console.url}\n"
        f"  user name:  {account.username} ({account.full_name}, {account.role})\n"
        f"  password:   {password}  (one-time: you choose your own at the first login)\n"
        "\nStop the console and the services with `.venv/bin/lienthong dev down`."
    )
    return EXIT_OK


def register(commands: Subparsers) -> None:
    dev = commands.add_parser("dev", help="the local Kafka, PostgreSQL and clamd for development")
    actions = dev.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start (or reuse) Kafka, PostgreSQL and clamd")
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop the local services")
    down.add_argument("--wipe", action="store_true", help="also delete their data")
    down.set_defaults(handler=_down)
    status = actions.add_parser("status", help="are the services up and answering")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    for parser in (up, down, status):
        parser.add_argument(
            "--brokers",
            type=int,
            choices=(1, 3),
            help="the local Kafka: 1 broker, or 3 combined broker+controller nodes on their "
            "own ports and state (default: LIENTHONG_KAFKA_BROKERS, else 1)",
        )

    health = commands.add_parser("health", help="check Kafka, PostgreSQL and clamd answer")
    health.set_defaults(handler=_health)
    db = commands.add_parser("db", help="the ledger database")
    db_actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_actions.add_parser(
        "migrate", help="apply pending migrations (as lienthong_owner)"
    ).set_defaults(handler=_migrate)
    roles = db_actions.add_parser(
        "roles", help="make the roles of deploy/postgres/roles.sql and their DSN files"
    )
    roles.set_defaults(handler=_roles)
    connector_role = db_actions.add_parser(
        "connector-role",
        help="a connector deployment's login role, confined to the units it hosts",
    )
    connector_role.add_argument("name", metavar="NAME", help="the deployment: a-z, 0-9, _")
    connector_role.add_argument("--unit", dest="units", nargs="+", required=True, metavar="ORGANID")
    connector_role.set_defaults(handler=_connector_role)
    gateway_role = db_actions.add_parser(
        "gateway-role",
        help="a gateway's login role (lienthong vxp bridge), confined to its own rows",
    )
    gateway_role.add_argument("name", metavar="NAME", help="the directory's gateway name")
    gateway_role.set_defaults(handler=_gateway_role)
    for parser in (roles, connector_role, gateway_role):
        parser.add_argument(
            "--admin-dsn-file",
            metavar="FILE",
            help="a 0600 file with an administrator's DSN (default: the local cluster's)",
        )
    commands.add_parser("demo", help="run the local demo exchange").set_defaults(handler=_demo)
