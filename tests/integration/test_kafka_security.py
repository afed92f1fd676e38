"""The secured broker, attacked with real clients: who can connect, and what each principal
may touch. Every principal here is made the way an operator makes it (`provisioning`)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from confluent_kafka import Consumer as RdKafkaConsumer
from confluent_kafka import KafkaError

from broker import grants, provisioning
from broker.directory import Directory, Unit, loader
from kernel import kafka
from kernel.errors import AccessDenied, DirectoryError, KafkaUnavailable
from kernel.kafka import ClientConfig
from kernel.kafka_admin import Grant, SecurityAdmin
from kernel.settings import Secret, Settings
from kernel.topics import Topics
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack.kafka import LocalKafka

pytestmark = pytest.mark.kafka
A, B, CLOSED = "000.00.00.H62", "000.02.00.H62", "000.00.31.H07"
TODAY = datetime.date.today()


@dataclasses.dataclass
class World:
    settings: Settings
    admin: ClientConfig
    topics: Topics
    directory: Directory
    a: ClientConfig
    b: ClientConfig
    closed: ClientConfig
    router: ClientConfig


@pytest.fixture
async def world(
    settings: Settings, kafka_admin: ClientConfig, tmp_path: Path
) -> AsyncIterator[World]:
    local = dataclasses.replace(
        settings,
        topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
        kafka_clients=tmp_path / "clients",
    )
    topics = Topics(local.topic_prefix)
    directory = loader.load(SAMPLE_DIRECTORY)
    specs = topics.specs([A, B, CLOSED], submit_partitions=1)
    await kafka.ensure_topics(kafka_admin, specs)
    await provisioning.sync(kafka_admin, topics, directory, today=TODAY)
    made = {
        unit: await provisioning.unit_client(
            local, kafka_admin, topics, directory, unit, today=TODAY
        )
        for unit in (A, B, CLOSED)
    }
    router = await provisioning.router_client(local, kafka_admin, topics, "r1")
    try:
        yield World(local, kafka_admin, topics, directory, made[A], made[B], made[CLOSED], router)
    finally:
        await kafka.delete_topics(kafka_admin, [s.name for s in specs])
        await provisioning.remove_deployment(kafka_admin, topics)


async def _produce(config: ClientConfig, topic: str, value: bytes = b"x") -> None:
    producer = AIOKafkaProducer(**config.aiokafka(), acks="all", request_timeout_ms=10_000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _consume(config: ClientConfig, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(
        topic, **config.aiokafka(), group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    try:
        await consumer.start()
        batch = await consumer.getmany(timeout_ms=5_000)
        await consumer.commit()
        return sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()


async def test_a_unit_writes_submit_and_reads_its_own_topic_with_its_own_group(
    world: World,
) -> None:
    await _produce(world.a, world.topics.submit)
    await _produce(world.router, world.topics.unit(A), b"delivered")
    assert await _consume(world.a, world.topics.unit(A), world.topics.connector_group(A)) == 1


async def test_another_unit_cannot_read_a_units_topic(world: World) -> None:
    await _produce(world.router, world.topics.unit(A), b"for A only")
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(world.b, world.topics.unit(A), world.topics.connector_group(B))


async def test_another_unit_cannot_write_to_a_units_topic(world: World) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(world.b, world.topics.unit(A))
    with pytest.raises(AccessDenied) as caught, kafka.mapped_errors("writing to A's topic"):
        await _produce(world.b, world.topics.unit(A))
    assert caught.value.reason == "kafka_not_authorized"


async def test_another_unit_cannot_join_a_units_group(world: World) -> None:
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume(world.b, world.topics.unit(B), world.topics.connector_group(A))


async def test_a_unit_cannot_read_submit_nor_the_dead_letters(world: World) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(world.a, world.topics.submit, world.topics.connector_group(A))
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(world.a, world.topics.deadletter, world.topics.connector_group(A))


async def test_a_unit_cannot_administer_the_cluster(world: World) -> None:
    # A replication factor given, so the refusal is CreateTopics' own (not the
    # DescribeConfigs a topic without one needs first).
    topic = kafka.TopicSpec(world.topics.unit("000.09.09.H62"), replication_factor=1)
    with pytest.raises(AccessDenied) as caught:
        await kafka.ensure_topics(world.a, [topic])
    assert caught.value.reason == "kafka_not_authorized"
    with SecurityAdmin(world.a) as cluster, pytest.raises(AccessDenied):
        await cluster.create(grants.unit_grants(world.topics, B, open_now=True))


async def test_a_router_routes_but_reads_no_unit_topic(world: World) -> None:
    await _produce(world.router, world.topics.unit(B))
    await _produce(world.router, world.topics.deadletter)
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(world.router, world.topics.unit(B), world.topics.router_group)


async def test_a_closed_unit_drains_its_topic_but_sends_nothing(world: World) -> None:
    await _produce(world.router, world.topics.unit(CLOSED), b"before the merger")
    topic, group = world.topics.unit(CLOSED), world.topics.connector_group(CLOSED)
    assert await _consume(world.closed, topic, group) == 1
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(world.closed, world.topics.submit)


async def test_an_anonymous_or_plaintext_client_cannot_connect(world: World) -> None:
    bootstrap = world.admin.bootstrap
    plaintext = ClientConfig(bootstrap)
    with pytest.raises(KafkaUnavailable):
        await kafka.broker_count(plaintext)
    tls_only = ClientConfig(bootstrap, protocol="SSL", ca_file=world.admin.ca_file)
    with pytest.raises((KafkaUnavailable, AccessDenied)):
        await kafka.broker_count(tls_only)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()


async def test_a_wrong_password_is_refused_with_its_reason(world: World) -> None:
    wrong = dataclasses.replace(world.a, password=Secret("not-the-password"))
    with pytest.raises(AccessDenied) as caught:
        await kafka.broker_count(wrong)
    assert caught.value.reason == "kafka_authentication_failed"


async def test_a_broker_certificate_from_another_ca_is_refused(
    world: World, tmp_path: Path
) -> None:
    stranger = LocalKafka(dataclasses.replace(world.settings, state_dir=tmp_path / "other"))
    stranger.tls.ensure()
    forged_trust = dataclasses.replace(world.a, ca_file=stranger.tls.ca_file)
    with pytest.raises(AccessDenied) as caught:
        await kafka.broker_count(forged_trust)
    assert caught.value.reason == "kafka_authentication_failed"


async def test_sync_is_idempotent_and_a_removed_unit_loses_its_credentials(
    world: World,
) -> None:
    again = await provisioning.sync(world.admin, world.topics, world.directory, today=TODAY)
    assert (again.created, again.deleted, again.users_deleted) == ((), (), ())

    newcomer = "000.09.00.H62"
    with_newcomer = Directory(
        [*world.directory.units.values(), Unit(newcomer, "Xã Thử", "commune", parent=A)]
    )
    await kafka.ensure_topics(world.admin, [kafka.TopicSpec(world.topics.unit(newcomer))])
    await provisioning.sync(world.admin, world.topics, with_newcomer, today=TODAY)
    config = await provisioning.unit_client(
        world.settings, world.admin, world.topics, with_newcomer, newcomer, today=TODAY
    )
    try:
        await _produce(config, world.topics.submit)

        synced = await provisioning.sync(world.admin, world.topics, world.directory, today=TODAY)
        assert synced.users_deleted == (world.topics.unit_user(newcomer),)
        assert {g.principal for g in synced.deleted} == {f"User:{world.topics.unit_user(newcomer)}"}
        with pytest.raises(AccessDenied) as caught:
            await kafka.broker_count(config)
        assert caught.value.reason == "kafka_authentication_failed"
        with pytest.raises(DirectoryError) as refused:
            await provisioning.unit_client(
                world.settings, world.admin, world.topics, world.directory, newcomer, today=TODAY
            )
        assert refused.value.reason == "unit_unknown"
        # The others are untouched.
        await _produce(world.a, world.topics.submit)
    finally:
        await kafka.delete_topics(world.admin, [world.topics.unit(newcomer)])


async def test_sync_removes_every_acl_the_directory_does_not_give(world: World) -> None:
    """A backdoor left by a stolen admin credential, of any shape, does not survive a sync."""
    user = f"User:{world.topics.unit_user(B)}"
    prefix = world.topics.prefix
    strays = {
        Grant(user, "topic", world.topics.unit(A), "literal", "read"),
        Grant(user, "topic", world.topics.unit(A), "literal", "read", host="127.0.0.1"),
        Grant(user, "group", prefix, "prefixed", "all"),
        Grant(user, "topic", prefix, "prefixed", "delete"),
        Grant(user, "broker", "kafka-cluster", "literal", "describe"),
        Grant(user, "topic", world.topics.submit, "literal", "write", permission="deny"),
    }
    with SecurityAdmin(world.admin) as cluster:
        await cluster.create(strays)
    synced = await provisioning.sync(world.admin, world.topics, world.directory, today=TODAY)
    assert set(synced.deleted) == strays
    with SecurityAdmin(world.admin) as cluster:
        assert not strays & await cluster.grants()
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume(world.b, world.topics.unit(A), world.topics.connector_group(B))
    await _produce(world.b, world.topics.submit)


async def test_the_librdkafka_form_works_in_librdkafka(world: World, tmp_path: Path) -> None:
    """kcat reads this form; confluent-kafka is the same library."""
    await _produce(world.router, world.topics.unit(A), b"read by librdkafka")
    settings = {
        **world.a.librdkafka(),
        "group.id": world.topics.connector_group(A),
        "auto.offset.reset": "earliest",
    }
    consumer = RdKafkaConsumer(settings)

    def poll() -> bytes | None:
        consumer.subscribe([world.topics.unit(A)])
        try:
            for _ in range(30):
                message = consumer.poll(1.0)
                if message is None:
                    continue
                error = message.error()
                assert error is None or error.code() == KafkaError._PARTITION_EOF, error
                if error is None:
                    value = message.value()
                    return bytes(value) if value is not None else None
            return None
        finally:
            consumer.close()

    assert await asyncio.to_thread(poll) == b"read by librdkafka"


@pytest.mark.timeout(180)
async def test_the_properties_form_works_in_the_java_console_consumer(
    world: World, tmp_path: Path
) -> None:
    await _produce(world.router, world.topics.unit(A), b"read by the Java console consumer")
    properties = tmp_path / "a.properties"
    properties.write_text(world.a.java_properties())
    local = LocalKafka(world.settings)
    command = [
        local.java(), "-cp", local.classpath(), "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server", world.a.bootstrap, "--topic", world.topics.unit(A),
        "--group", world.topics.connector_group(A), "--from-beginning", "--max-messages", "1",
        "--timeout-ms", "60000", "--consumer.config", str(properties),
    ]  # fmt: skip
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=150, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "read by the Java console consumer" in result.stdout
