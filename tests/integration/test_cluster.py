"""The three-broker cluster (`lienthong dev up --brokers 3`) under broker faults.

It runs in its own state dir and on its own ports, beside the session's one broker: one
broker lost, writes with acks=all and reads go on and nothing is lost; two lost, a write
waits (no quorum, no second in-sync replica) and completes once one comes back. The stall
after the first kill is measured and printed, never asserted.

`make faults` runs it, `make pytest` leaves it out: a cold cluster and two recoveries take
about three minutes on two cores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kernel import kafka
from kernel.kafka import ClientConfig
from kernel.secrets import write_private
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack.kafka import LocalKafka
from tests.ports import free_range

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]
UNIT = "000.00.01.H62"
PARTITIONS = 3


@pytest.fixture
async def cluster(settings: Settings, tmp_path: Path) -> AsyncIterator[LocalKafka]:
    own = dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        kafka_brokers=3,
        kafka_cluster_port=free_range(9, start=31_000, step=97),  # away from the devstack
        kafka_bootstrap=None,
        kafka_clients=None,
        kafka_client_config=None,
    )
    local = LocalKafka(own)
    try:
        started = time.monotonic()
        await local.start(timeout=150)
        print(f"\ncluster of three up in {time.monotonic() - started:.1f}s: {local.bootstrap}")
        yield local
    finally:
        local.stop()
        local.wipe()


def _producer(admin: ClientConfig) -> AIOKafkaProducer:
    # A long request timeout: with idempotence aiokafka retries a batch until it succeeds,
    # but fails one that waits longer than this with no leader known.
    return AIOKafkaProducer(
        **admin.aiokafka(), acks="all", enable_idempotence=True, request_timeout_ms=120_000
    )


async def _describe(admin: ClientConfig, topic: str) -> tuple[list[dict[str, object]], str]:
    async with kafka.admin_client(admin) as client:
        (described,) = await client.describe_topics([topic])
        (configs,) = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})]
        )
    entries = configs.resources[0][4]
    return described["partitions"], dict((e[0], e[1]) for e in entries)["min.insync.replicas"]


def _kill(local: LocalKafka, node: int) -> None:
    pid = local.pids()[node]
    assert pid is not None, f"node {node} is not running"
    os.kill(pid, signal.SIGKILL)


async def _consume(consumer: AIOKafkaConsumer, wanted: int) -> list[str]:
    got: list[str] = []
    while len(got) < wanted:
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=60)
        got += [r.value.decode() for records in batch.values() for r in records if r.value]
    return got


def _leader(partitions: Iterable[dict[str, object]], partition: int) -> int:
    return next(int(str(p["leader"])) for p in partitions if p["partition"] == partition)


async def _a_topic_made_on_one_broker_gets_its_replicas(
    cluster: LocalKafka, admin: ClientConfig, topics: Topics
) -> None:
    """A topic made while the cluster had one broker keeps one replica: `topics sync`
    names it, and its plan, run by Kafka's own reassignment tool, gives it three."""
    alone = dataclasses.replace(
        topics.specs([UNIT])[0], name=f"{topics.prefix}alone", replication_factor=1
    )
    await kafka.ensure_topics(admin, [alone])
    (short,) = await kafka.under_replicated(admin, [alone.name, topics.submit])
    assert (short.topic, short.replicas, short.wanted) == (alone.name, 1, 3)
    plan = kafka.reassignment_plan([short], sorted(await kafka.broker_ids(admin)))
    for moved, (number, replicas) in zip(plan["partitions"], short.partitions, strict=True):
        assert moved["partition"] == number
        assert moved["replicas"][0] == replicas[0]  # the leader stays preferred
        assert len(set(moved["replicas"])) == 3
    folder = cluster.settings.state_dir
    (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    write_private(folder / "admin.properties", admin.java_properties())
    tool = [
        cluster.java(), "-cp", cluster.classpath(),
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        "--bootstrap-server", admin.bootstrap,
        "--command-config", str(folder / "admin.properties"),
        "--reassignment-json-file", str(folder / "plan.json"),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, [*tool, "--execute"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    while await kafka.under_replicated(admin, [alone.name]):
        assert time.monotonic() < deadline, "the reassignment did not complete"
        await asyncio.sleep(1)


async def test_one_broker_lost_nothing_lost_two_lost_writes_wait(cluster: LocalKafka) -> None:
    admin = cluster.admin_config()
    topics = Topics(f"c{uuid.uuid4().hex[:8]}.")
    specs = topics.specs([UNIT], submit_partitions=PARTITIONS)
    await kafka.ensure_topics(admin, specs)
    for spec in specs:
        partitions, min_insync = await _describe(admin, spec.name)
        assert {len(p["replicas"]) for p in partitions} == {3}  # type: ignore[arg-type]
        assert min_insync == "2"
    topic = topics.submit
    await _a_topic_made_on_one_broker_gets_its_replicas(cluster, admin, topics)

    producer = _producer(admin)
    consumer = AIOKafkaConsumer(
        topic, **admin.aiokafka(), group_id=f"{topics.prefix}test", auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        sent: list[str] = []

        async def produce(count: int) -> list[float]:
            """Each write in turn, round the partitions; how long each took to be acked."""
            took = []
            for _ in range(count):
                value = f"r{len(sent)}"
                began = time.monotonic()
                await producer.send_and_wait(
                    topic, value.encode(), partition=len(sent) % PARTITIONS
                )
                took.append(time.monotonic() - began)
                sent.append(value)
            return took

        await produce(30)
        received = await _consume(consumer, 30)
        await consumer.commit()

        # One of three lost: the leader of partition 0 (the group's coordinator, maybe).
        partitions, _ = await _describe(admin, topic)
        first = _leader(partitions, 0)
        _kill(cluster, first)
        took = await produce(60)
        print(
            f"broker {first} SIGKILLed: the first write after it took {took[0]:.2f}s, the "
            f"longest {max(took):.2f}s (60 writes in {sum(took):.1f}s)"
        )
        received += await _consume(consumer, 60)
        await consumer.commit()
        assert sorted(received) == sorted(sent)

        # Two of three lost: no controller quorum, no second in-sync replica.
        second = next(n for n, pid in cluster.pids().items() if pid is not None and n != first)
        _kill(cluster, second)
        waiting = [
            await producer.send(topic, f"w{i}".encode(), partition=i % PARTITIONS) for i in range(9)
        ]
        done, _ = await asyncio.wait(waiting, timeout=15)
        assert not done, "a write was acked with two of three brokers down"
        print(f"brokers {first} and {second} down: 9 writes still waiting after 15s")

        restarted_at = time.monotonic()
        await cluster.start(node=second, timeout=120)
        await asyncio.wait_for(asyncio.gather(*waiting), timeout=120)
        print(
            f"broker {second} restarted: the 9 waiting writes were acked "
            f"{time.monotonic() - restarted_at:.1f}s after its restart began"
        )
        sent += [f"w{i}" for i in range(9)]
        received += await _consume(consumer, 9)
        assert sorted(received) == sorted(sent)
        assert len(set(received)) == len(received), "a record was written twice"
    finally:
        await consumer.stop()
        await producer.stop()

    # Everything in the log, once: read afresh from the beginning, outside any group.
    everything = AIOKafkaConsumer(**admin.aiokafka(), enable_auto_commit=False)
    await everything.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        everything.assign(assigned)
        await everything.seek_to_beginning(*assigned)
        log = await _consume(everything, len(sent))
    finally:
        await everything.stop()
    assert sorted(log) == sorted(sent)
