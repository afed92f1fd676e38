"""Crash tests: SIGKILL the router, then the receiving connector, at random points while
1,000 documents flow. After restarts every document is registered exactly once, the
numbers run 1..1000 without a gap, and the ledger agrees with the register."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from broker import provisioning
from broker.directory import loader, store
from connectors.service import Connector
from kernel import database, kafka
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.commands.exchange import unit_configs
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack import stack
from lienthong.devstack.stack import Endpoints
from signing.testpki import write_pki
from tests.e2e.conftest import (
    COMMUNE_A,
    PROVINCE,
    connector_deployment,
    exchange_settings,
    provision,
)
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENTS = 1000
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


class Service:
    """A `lienthong … run` process of its own, killed and restarted at will."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lienthong", *self.args],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("LIENTHONG_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed: {value} (LIENTHONG_CRASH_SEED={value} repeats it)")
    return value


@pytest.fixture
async def world(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> AsyncIterator[tuple[Settings, dict[str, str]]]:
    tag = uuid.uuid4().hex[:10]
    local = exchange_settings(settings, tmp_path, f"c_{tag}", f"c{tag}.")
    directory = loader.load(SAMPLE_DIRECTORY)
    write_pki(
        local.keys_dir,
        [(u, directory.units[u].name) for u in (PROVINCE, COMMUNE_A)],
        router_id=local.router_id,
    )
    assert services.owner_database_url is not None
    owner_dsn = services.owner_database_url.reveal()
    admin = await database.connect(owner_dsn)
    await database.migrate(admin, schema=local.database_schema)
    conn = await database.connect(owner_dsn, schema=local.database_schema)
    await store.save(conn, directory)
    await conn.close()
    topics = Topics(local.topic_prefix)
    specs = topics.specs([PROVINCE, COMMUNE_A], submit_partitions=3)
    await kafka.ensure_topics(services.kafka, specs)
    await provision(local, services.kafka, directory, [PROVINCE, COMMUNE_A])
    try:
        async with connector_deployment(services, local.database_schema, [PROVINCE, COMMUNE_A]) as (
            name,
            _,
        ):
            local = dataclasses.replace(local, connector_name=name)
            yield (
                local,
                {
                    **os.environ,
                    "LIENTHONG_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
                    "LIENTHONG_KAFKA_CLIENTS": str(local.kafka_clients_dir),
                    "LIENTHONG_CONNECTOR_NAME": name,
                    "LIENTHONG_DATABASE_SCHEMA": local.database_schema,
                    "LIENTHONG_TOPIC_PREFIX": local.topic_prefix,
                    "LIENTHONG_PKI_DIR": str(local.keys_dir),
                    "LIENTHONG_ENV": "production",
                },
            )
    finally:
        await kafka.delete_topics(services.kafka, [s.name for s in specs])
        await provisioning.remove_deployment(services.kafka, topics)
        await admin.execute(f'DROP SCHEMA "{local.database_schema}" CASCADE')
        await admin.close()


@pytest.fixture
def processes(
    world: tuple[Settings, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[Service, Service]]:
    _, env = world
    router = Service(["router", "run"], env, tmp_path / "router.log")
    receiver = Service(["connector", "run", "--unit", COMMUNE_A], env, tmp_path / "connector.log")
    yield router, receiver
    for service in (router, receiver):
        service.stop()


@pytest.mark.timeout(600)
async def test_sigkill_router_then_connector_loses_and_duplicates_nothing(
    world: tuple[Settings, dict[str, str]],
    processes: tuple[Service, Service],
    services: Endpoints,
    seed: int,
) -> None:
    local, _ = world
    router, receiver = processes
    rng = random.Random(seed)
    kill_router_at = sorted(rng.sample(range(50, DOCUMENTS - 50), 2))
    kill_receiver_at = sorted(rng.sample(range(50, DOCUMENTS - 50), 2))
    router.start()
    receiver.start()
    dsn = (await stack.connector_dsn(local, [PROVINCE])).reveal()
    sent: list[str] = []
    configs = unit_configs(local, [PROVINCE])
    async with Connector(local, [PROVINCE], kafka_configs=configs, dsn=dsn) as sender:
        for index in range(DOCUMENTS):
            if index in kill_router_at:
                router.kill()
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                router.start()
            if index in kill_receiver_at:
                receiver.kill()
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                receiver.start()
            body, _ = await sender.send(PROVINCE, DOCUMENT, [COMMUNE_A])
            sent.append(body.message_id)

    assert services.reporting_database_url is not None
    reporting = services.reporting_database_url.reveal()
    conn = await database.connect(reporting, schema=local.database_schema)
    try:
        deadline = time.monotonic() + 240
        while True:
            registered = await conn.fetchval(
                "SELECT count(*) FROM incoming_register WHERE unit = $1", COMMUNE_A
            )
            acknowledged = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE recipient = $1 AND state = '01'", COMMUNE_A
            )
            if (registered, acknowledged) == (DOCUMENTS, DOCUMENTS) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        rows = await conn.fetch(
            "SELECT number, message_id FROM incoming_register WHERE unit = $1 ORDER BY number",
            COMMUNE_A,
        )
        routed = await conn.fetch(
            "SELECT m.message_id, d.state FROM messages m JOIN deliveries d USING (message_id)"
            " WHERE m.kind = 'document' AND m.verdict = 'routed'"
        )
        outgoing = await conn.fetch(
            "SELECT number FROM outgoing_register WHERE unit = $1 ORDER BY number", PROVINCE
        )
        unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    finally:
        await conn.close()

    assert [r["number"] for r in outgoing] == list(range(1, DOCUMENTS + 1))
    assert [r["number"] for r in rows] == list(range(1, DOCUMENTS + 1)), "số đến has gaps"
    assert sorted(r["message_id"] for r in rows) == sorted(sent), "lost or duplicated"
    assert sorted(r["message_id"] for r in routed) == sorted(sent), "ledger disagrees"
    assert {r["state"] for r in routed} == {"01"}, "a receipt is missing from the ledger"
    assert router.stop() == 0, "the router did not shut down cleanly on SIGTERM"
    assert receiver.stop() == 0
    assert unsent == 0
