"""A whole exchange per test: its own topics, schema and PKI, a router and a connector.

Everything is real: the session's Kafka and PostgreSQL, services started in this process
(the crash tests start them as separate processes instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from broker import provisioning
from broker.directory import Directory, loader, store
from broker.service import Router
from connectors.service import Connector
from kernel import database, kafka
from kernel.errors import KafkaUnavailable
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack.stack import Endpoints
from signing.endorsement import endorse
from signing.identity import Identity
from signing.testpki import KeyCache, TestPki, write_pki

T = TypeVar("T")
PROVINCE = "000.00.00.H62"
DEPARTMENT = "000.00.02.H62"
COMMUNE_A = "000.02.00.H62"
COMMUNE_B = "000.03.00.H62"
CLOSED_DISTRICT = "000.00.31.H07"
HOSTED = (PROVINCE, DEPARTMENT, COMMUNE_A, COMMUNE_B)
_KEYS: KeyCache = {}
"""RSA keys reused from one exchange's fresh PKI to the next's (signing.testpki.KeyCache):
about a second of key generation saved per test."""


@dataclasses.dataclass
class Exchange:
    settings: Settings
    endpoints: Endpoints
    topics: Topics
    pki: TestPki
    pki_dir: Path
    router: Router
    connector: Connector

    @property
    def dsn(self) -> str:
        return self.endpoints.database_url.reveal()

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        conn = await database.connect(self.dsn, schema=self.settings.database_schema)
        try:
            return [dict(row) for row in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    def router_endorsement(self, value: bytes, message_id: str, unit: str) -> tuple[str, bytes]:
        """The header the router would put on delivering `value` to `unit`: what a router
        defect, or its key misused, would let through past every check of the router's."""
        router = Identity.load(self.pki_dir / "router", self.settings.router_id)
        return endorse(
            router, self.connector.registry, value, message_id=message_id, delivered_to=unit,
            requested=unit,
        )  # fmt: skip

    async def refusals(self, message_id: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait for the 02 statuses the sender of `message_id` has heard, and return them."""

        async def probe() -> list[dict[str, Any]]:
            return await self.fetch(
                "SELECT * FROM outgoing_status WHERE message_id = $1 AND status_code = '02'",
                message_id,
            )

        return await self.until(probe, timeout=timeout, what=f"a 02 about {message_id}")

    async def cli(self, *args: str) -> tuple[int, str, str]:
        """`lienthong ARGS` run as an operator would, against this exchange."""
        env = {
            **os.environ,
            "LIENTHONG_KAFKA_BOOTSTRAP": self.endpoints.kafka_bootstrap,
            "LIENTHONG_KAFKA_CLIENTS": str(self.settings.kafka_clients_dir),
            "LIENTHONG_CONNECTOR_NAME": self.settings.connector_name or "",
            "LIENTHONG_DATABASE_SCHEMA": self.settings.database_schema,
            "LIENTHONG_TOPIC_PREFIX": self.settings.topic_prefix,
            "LIENTHONG_PKI_DIR": str(self.pki_dir),
            "LIENTHONG_LOG_LEVEL": "WARNING",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lienthong", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def records(self, topic: str) -> list[ConsumerRecord]:
        """Every record on `topic` now, read to its end offsets as the admin."""
        consumer = AIOKafkaConsumer(**self.endpoints.kafka.aiokafka(), enable_auto_commit=False)
        await consumer.start()
        found: list[ConsumerRecord] = []
        try:
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                    found += batch
        finally:
            await consumer.stop()
        return found

    @contextlib.asynccontextmanager
    async def router_held_back(self, *, urgent: bool = True) -> AsyncIterator[None]:
        """The router takes nothing from the submit topic (and, with `urgent`, its urgent
        lane) until the block ends, then all that arrived meanwhile, in one batch."""
        consumers = [self.router.consumer, *([self.router.urgent] if urgent else [])]
        for consumer in consumers:
            await self.until(functools.partial(_assigned, consumer), what="its partitions")
        for consumer in consumers:
            consumer.pause(*consumer.assignment())
        try:
            yield
        finally:
            for consumer in consumers:
                consumer.resume(*consumer.assignment())

    @contextlib.asynccontextmanager
    async def connector_held_back(self, unit: str) -> AsyncIterator[None]:
        """The connector takes nothing from `unit`'s topic until the block ends."""
        consumer = self.connector._consumers[unit]
        await self.until(functools.partial(_assigned, consumer), what="its partitions")
        consumer.pause(*consumer.assignment())
        try:
            yield
        finally:
            consumer.resume(*consumer.assignment())

    async def until(
        self, probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, what: str = ""
    ) -> T:
        """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = await probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(0.1)


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    return bool(consumer.assignment())


def exchange_settings(base: Settings, tmp: Path, schema: str, prefix: str) -> Settings:
    return dataclasses.replace(
        base, topic_prefix=prefix, database_schema=schema, pki_dir=tmp / "pki", trust_dir=None,
        kafka_clients=tmp / "kafka-clients", claims=tmp / "claims",
    )  # fmt: skip


async def provision(
    settings: Settings, admin: ClientConfig, directory: Directory, units: Sequence[str]
) -> tuple[ClientConfig, dict[str, ClientConfig]]:
    """The exchange's principals, as an operator makes them: ACLs from the directory, a
    router's and each hosted unit's credentials."""
    topics = Topics(settings.topic_prefix, settings.max_message_bytes)
    today = datetime.date.today()
    admin.save(kafka.config_path(settings, kafka.ADMIN_FILE))
    await provisioning.sync(admin, topics, directory, today=today)
    router = await provisioning.router_client(settings, admin, topics, settings.router_name)
    configs = {
        unit: await provisioning.unit_client(settings, admin, topics, directory, unit, today=today)
        for unit in units
    }
    return router, configs


@contextlib.asynccontextmanager
async def connector_deployment(
    services: Endpoints, schema: str, units: Sequence[str]
) -> AsyncIterator[tuple[str, str]]:
    """A connector deployment role of its own hosting `units` in `schema`, as an operator
    makes one (`lienthong db connector-role`); (its name, its DSN). Dropped afterwards."""
    assert services.owner_database_url
    assert services.database_roles_dir
    name = f"t{uuid.uuid4().hex[:12]}"
    admin = await database.connect(services.database_url.reveal())
    owner = await database.connect(services.owner_database_url.reveal(), schema=schema)
    try:
        dsn = await dbroles.create_connector_role(
            admin, owner, name, units, base=services.database_url.reveal(),
            directory=services.database_roles_dir,
        )  # fmt: skip
        yield name, dsn.reveal()
    finally:
        await owner.execute(
            "DELETE FROM connector_units WHERE role = $1", dbroles.connector_role(name)
        )
        await owner.close()
        dbroles.dsn_file(services.database_roles_dir, dbroles.connector_role(name)).unlink(
            missing_ok=True
        )
        await admin.execute(f'DROP ROLE IF EXISTS "{dbroles.connector_role(name)}"')
        await admin.close()


@contextlib.asynccontextmanager
async def running_exchange(
    settings: Settings,
    services: Endpoints,
    tmp_path: Path,
    *,
    directory: Directory | None = None,
    hosted: Sequence[str] = HOSTED,
    shared_pki: TestPki | None = None,
) -> AsyncIterator[Exchange]:
    """Topics, schema, PKI, directory, Kafka principals and database roles of their own, a
    router and a connector running, each as itself (never as a superuser). By default the
    sample directory with the four units of HOSTED; `shared_pki` issues this exchange's
    certificates from another's CAs (two provinces under one Government root)."""
    tag = uuid.uuid4().hex[:10]
    schema, prefix = f"e_{tag}", f"t{tag}."
    local = exchange_settings(settings, tmp_path, schema, prefix)
    directory = directory or loader.load(SAMPLE_DIRECTORY)
    pki = write_pki(
        local.keys_dir,
        [(u, directory.units[u].name) for u in hosted],
        router_id=local.router_id,
        pki=shared_pki,
        key_cache=_KEYS,
    )
    admin = services.kafka
    assert services.owner_database_url
    assert services.router_database_url
    owner = await database.connect(services.owner_database_url.reveal())
    await database.migrate(owner, schema=schema)
    conn = await database.connect(services.owner_database_url.reveal(), schema=schema)
    await store.save(conn, directory)
    await conn.close()
    topics = Topics(prefix, local.max_message_bytes)
    specs = topics.specs(sorted(directory.units), submit_partitions=3)
    await kafka.ensure_topics(admin, specs)
    router_config, unit_configs = await provision(local, admin, directory, hosted)
    try:
        async with connector_deployment(services, schema, hosted) as (name, connector_dsn):
            local = dataclasses.replace(local, connector_name=name)
            router = Router(
                local, kafka_config=router_config, dsn=services.router_database_url.reveal(),
                reload_seconds=0.2,
            )  # fmt: skip
            connector = Connector(local, hosted, kafka_configs=unit_configs, dsn=connector_dsn)
            async with router, connector:
                stop = asyncio.Event()
                tasks = [
                    asyncio.create_task(router.run(stop)),
                    asyncio.create_task(connector.run(stop)),
                ]
                try:
                    yield Exchange(local, services, topics, pki, local.keys_dir, router, connector)
                finally:
                    stop.set()
                    await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        with contextlib.suppress(KafkaUnavailable):
            await kafka.delete_topics(admin, [s.name for s in specs])
            await provisioning.remove_deployment(admin, topics)
        await owner.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await owner.close()


def exchange_with(
    settings: Settings, services: Endpoints, tmp_path: Path, **changes: Any
) -> contextlib.AbstractAsyncContextManager[Exchange]:
    """An exchange whose router runs with other settings (scanner, policy file)."""
    return running_exchange(dataclasses.replace(settings, **changes), services, tmp_path)


def exchange_with_policy(
    settings: Settings, services: Endpoints, tmp_path: Path, policy: str
) -> contextlib.AbstractAsyncContextManager[Exchange]:
    """An exchange whose router reads this policy file's text."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy, encoding="utf-8")
    return exchange_with(settings, services, tmp_path, policy_file=path)


@pytest.fixture
async def exchange(
    settings: Settings, services: Endpoints, tmp_path: Path
) -> AsyncIterator[Exchange]:
    async with running_exchange(settings, services, tmp_path) as running:
        yield running
