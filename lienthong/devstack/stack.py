"""`lienthong dev up | down | status`: the services together, and the endpoints they give.

A service given from outside (LIENTHONG_KAFKA_BOOTSTRAP, LIENTHONG_DATABASE_URL,
LIENTHONG_CLAMD) is only checked, never started or stopped; LIENTHONG_CLAMD=none runs
without a malware scanner.

The local Kafka is one broker or three (LIENTHONG_KAFKA_BROKERS); both may run from one
state dir, on their own ports, and share its PostgreSQL and clamd, which `down` therefore
leaves running while the other Kafka still does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from broker.policy.malware import Clamd
from kernel import database, kafka
from kernel.errors import (
    AccessDenied,
    ConfigurationError,
    DatabaseUnavailable,
    KafkaUnavailable,
    ScannerUnavailable,
    ServiceFailed,
)
from kernel.kafka import ClientConfig
from kernel.settings import Secret, Settings
from lienthong import dbroles
from lienthong.devstack.clamd import LocalClamd
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import LocalPostgres


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoints:
    kafka: ClientConfig
    """The admin principal's client config: it provisions every other principal."""
    database_url: Secret
    clamd: str | None
    owner_database_url: Secret | None = None
    """lienthong_owner's DSN: migrations, connector_units (LIENTHONG_DATABASE_URL when given)."""
    router_database_url: Secret | None = None
    reporting_database_url: Secret | None = None
    console_database_url: Secret | None = None
    database_roles_dir: Path | None = None
    """Where each login role's `<role>.dsn` is (0600 files, 0700 dir); None: no roles yet."""

    def connector_database_url(self, name: str) -> Secret:
        return dbroles.deployment_dsn(self.database_roles_dir, name)

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap


@dataclasses.dataclass(frozen=True, slots=True)
class Started:
    """What one `up` started itself, so a caller (the test session) stops only that."""

    kafka: bool
    postgres: bool
    clamd: bool = False


def database_url(settings: Settings) -> Secret:
    """The database, without needing the Kafka admin's credentials (a router's host, say)."""
    return settings.database_url or Secret(LocalPostgres(settings).dsn())


def endpoints(settings: Settings) -> Endpoints:
    """Every service, with the Kafka admin principal: for operators' commands and tests."""
    url = database_url(settings)
    roles = database_roles_dir(settings)
    return Endpoints(
        kafka=kafka.admin_config(settings),
        database_url=url,
        clamd=settings.clamd_address,
        owner_database_url=role_database_url(settings, dbroles.OWNER),
        router_database_url=role_database_url(settings, dbroles.ROUTER),
        reporting_database_url=role_database_url(settings, dbroles.REPORTING),
        console_database_url=role_database_url(settings, dbroles.CONSOLE),
        database_roles_dir=roles,
    )


def database_roles_dir(settings: Settings) -> Path:
    """The local cluster's `roles/`, or `<state>/database/` for a server given from outside."""
    if settings.local_postgres:
        return LocalPostgres(settings).roles_dir
    return settings.state_dir / "database"


def role_database_url(settings: Settings, role: str) -> Secret | None:
    """A login role's DSN from its file; the owner's is LIENTHONG_DATABASE_URL when given."""
    if role == dbroles.OWNER and settings.database_url:
        return settings.database_url
    return dbroles.read_dsn(database_roles_dir(settings), role)


def service_dsn(settings: Settings, role: str) -> Secret:
    """The DSN a process of `role` (owner, router, reporting) runs with; never a superuser."""
    found = role_database_url(settings, role)
    if found is None:
        raise ConfigurationError(
            f"no database role {role} is set up for this deployment",
            hint="run `lienthong dev up` (local) or `lienthong db roles` (a server of yours)",
        )
    return found


async def connector_dsn(settings: Settings, units: Sequence[str]) -> Secret:
    """The connector deployment's DSN: LIENTHONG_CONNECTOR_NAME's, else the one deployment
    that hosts all of `units` (asked of the reporting role)."""
    roles_dir = database_roles_dir(settings)
    if settings.connector_name:
        return dbroles.deployment_dsn(roles_dir, settings.connector_name)
    conn = await database.connect(
        service_dsn(settings, dbroles.REPORTING).reveal(), schema=settings.database_schema
    )
    try:
        roles = await dbroles.hosting(conn, units)
    finally:
        await conn.close()
    if len(roles) != 1:
        raise ConfigurationError(
            f"{', '.join(units)} {'are hosted by several' if roles else 'have no'} connector "
            "deployment" + (f"s ({', '.join(roles)})" if roles else ""),
            hint="set LIENTHONG_CONNECTOR_NAME, or `lienthong db connector-role NAME --unit …`",
        )
    return dbroles.deployment_dsn(roles_dir, roles[0].removeprefix(dbroles.CONNECTOR + "_"))


async def up(settings: Settings) -> tuple[Endpoints, Started]:
    started_kafka = started_postgres = started_clamd = False
    if settings.local_kafka:
        started_kafka = await LocalKafka(settings).start()
    else:
        await kafka.wait_until_ready(kafka.admin_config(settings), timeout=30)
    if settings.local_postgres:
        started_postgres = await LocalPostgres(settings).start()
    if settings.local_clamd:
        started_clamd = await LocalClamd(settings).start()
    elif settings.clamd_address is not None:
        await Clamd(settings.clamd_address).ping()
    found = endpoints(settings)
    await database.wait_until_ready(found.database_url.reveal())
    if settings.local_postgres:
        admin = await database.connect(found.database_url.reveal())
        try:
            await dbroles.adopt_schema(admin, settings.database_schema)
        finally:
            await admin.close()
    conn = await database.connect((found.owner_database_url or found.database_url).reveal())
    try:
        await database.migrate(conn, schema=settings.database_schema)
    finally:
        await conn.close()
    return found, Started(kafka=started_kafka, postgres=started_postgres, clamd=started_clamd)


def down(settings: Settings, *, wipe: bool = False, only: Started | None = None) -> list[str]:
    """Stop the local services (those in `only`, when given); return what was stopped."""
    stopped: list[str] = []
    local_kafka, local_postgres = LocalKafka(settings), LocalPostgres(settings)
    local_clamd = LocalClamd(settings)
    # PostgreSQL and clamd go with the last local Kafka of this state dir to stop.
    last = not (settings.local_kafka and _other_kafka(settings).running())
    if settings.local_kafka and (only is None or only.kafka) and local_kafka.stop():
        stopped.append("kafka")
    if (
        last
        and settings.local_postgres
        and (only is None or only.postgres)
        and local_postgres.stop()
    ):
        stopped.append("postgres")
    if last and settings.local_clamd and (only is None or only.clamd) and local_clamd.stop():
        stopped.append("clamd")
    if wipe:
        local_kafka.wipe()
        if last:
            local_postgres.wipe()
            local_clamd.wipe()
    return stopped


def _other_kafka(settings: Settings) -> LocalKafka:
    """The local Kafka of the other size, which shares this state dir's PostgreSQL and clamd."""
    return LocalKafka(
        dataclasses.replace(settings, kafka_brokers=3 if settings.kafka_brokers == 1 else 1)
    )


async def status(settings: Settings) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    report["kafka"] = await _kafka_status(settings)
    if settings.local_postgres:
        local_postgres = LocalPostgres(settings)
        report["postgres"] = {
            "managed": True,
            "pid": local_postgres.pid(),
            "port": settings.postgres_port,
            "data_dir": str(local_postgres.data_dir),
            "log": str(local_postgres.log_file),
        }
    else:
        report["postgres"] = {"managed": False}
    try:
        conn = await database.connect(database_url(settings).reveal(), timeout=3)
        await conn.close()
        report["postgres"]["ready"] = True
    except (DatabaseUnavailable, ServiceFailed) as exc:
        report["postgres"]["ready"] = False
        report["postgres"]["error"] = exc.message
    report["clamd"] = await _clamd_status(settings)
    return report


async def _kafka_status(settings: Settings) -> dict[str, object]:
    """Ready when every local node runs and the cluster lists them all as brokers."""
    report: dict[str, object]
    expected = 0
    if settings.local_kafka:
        local_kafka = LocalKafka(settings)
        pids = local_kafka.pids()
        expected = len(pids)
        report = {
            "managed": True,
            "pid": pids[1] if expected == 1 else pids,
            "bootstrap": local_kafka.bootstrap,
            "log": str(local_kafka.server_log),
        }
        if expected > 1:
            report["quorum"] = f"{expected} combined broker+controller nodes"
        if not any(pids.values()):
            return {**report, "ready": False, "error": "not running"}
    else:
        report = {"managed": False, "bootstrap": settings.kafka_bootstrap_servers}
    try:
        brokers = await kafka.broker_count(kafka.admin_config(settings))
    except (KafkaUnavailable, AccessDenied, ConfigurationError) as exc:
        return {**report, "ready": False, "error": exc.message}
    report.update(brokers=brokers, ready=brokers >= expected, security="SASL_SSL/SCRAM-SHA-512")
    if brokers < expected:
        report["error"] = f"{expected - brokers} of {expected} brokers are down"
    return report


async def _clamd_status(settings: Settings) -> dict[str, object]:
    address = settings.clamd_address
    if address is None:
        return {"managed": False, "ready": True, "scanning": "off (LIENTHONG_CLAMD=none)"}
    report: dict[str, object] = {"managed": settings.local_clamd, "address": address}
    if settings.local_clamd:
        local = LocalClamd(settings)
        report.update(pid=local.pid(), log=str(local.log_file))
    try:
        report["version"] = await Clamd(address, timeout=3).version()
        report["ready"] = True
    except ScannerUnavailable as exc:
        report.update(ready=False, error=exc.message)
    return report
