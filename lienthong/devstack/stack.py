"""`lienthong dev up | down | status`: both services together, and the endpoints they give.

A service given from outside (LIENTHONG_KAFKA_BOOTSTRAP, LIENTHONG_DATABASE_URL) is only
checked, never started or stopped.
"""

from __future__ import annotations

import dataclasses

from kernel import database, kafka
from kernel.errors import DatabaseUnavailable, KafkaUnavailable, ServiceFailed
from kernel.settings import Secret, Settings
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import LocalPostgres


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: Secret


@dataclasses.dataclass(frozen=True, slots=True)
class Started:
    """What one `up` started itself, so a caller (the test session) stops only that."""

    kafka: bool
    postgres: bool


def endpoints(settings: Settings) -> Endpoints:
    url = settings.database_url or Secret(LocalPostgres(settings).dsn())
    return Endpoints(kafka_bootstrap=settings.kafka_bootstrap_servers, database_url=url)


async def up(settings: Settings) -> tuple[Endpoints, Started]:
    started_kafka = started_postgres = False
    if settings.local_kafka:
        started_kafka = await LocalKafka(settings).start()
    else:
        await kafka.wait_until_ready(settings.kafka_bootstrap_servers, timeout=30)
    if settings.local_postgres:
        started_postgres = await LocalPostgres(settings).start()
    found = endpoints(settings)
    await database.wait_until_ready(found.database_url.reveal())
    conn = await database.connect(found.database_url.reveal())
    try:
        await database.migrate(conn, schema=settings.database_schema)
    finally:
        await conn.close()
    return found, Started(kafka=started_kafka, postgres=started_postgres)


def down(settings: Settings, *, wipe: bool = False, only: Started | None = None) -> list[str]:
    """Stop the local services (those in `only`, when given); return what was stopped."""
    stopped: list[str] = []
    local_kafka, local_postgres = LocalKafka(settings), LocalPostgres(settings)
    if settings.local_kafka and (only is None or only.kafka) and local_kafka.stop():
        stopped.append("kafka")
    if settings.local_postgres and (only is None or only.postgres) and local_postgres.stop():
        stopped.append("postgres")
    if wipe:
        local_kafka.wipe()
        local_postgres.wipe()
    return stopped


async def status(settings: Settings) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    if settings.local_kafka:
        local_kafka = LocalKafka(settings)
        report["kafka"] = {
            "managed": True,
            "pid": local_kafka.pid(),
            "bootstrap": local_kafka.bootstrap,
            "log": str(local_kafka.server_log),
        }
    else:
        report["kafka"] = {"managed": False, "bootstrap": settings.kafka_bootstrap_servers}
    if report["kafka"]["managed"] and report["kafka"]["pid"] is None:
        report["kafka"].update(ready=False, error="not running")
    else:
        try:
            report["kafka"]["brokers"] = await kafka.broker_count(settings.kafka_bootstrap_servers)
            report["kafka"]["ready"] = True
        except KafkaUnavailable as exc:
            report["kafka"].update(ready=False, error=exc.message)
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
        conn = await database.connect(endpoints(settings).database_url.reveal(), timeout=3)
        await conn.close()
        report["postgres"]["ready"] = True
    except (DatabaseUnavailable, ServiceFailed) as exc:
        report["postgres"]["ready"] = False
        report["postgres"]["error"] = exc.message
    return report
