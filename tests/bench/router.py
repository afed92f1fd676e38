"""Envelopes per second through the router, and end-to-end latency, next to a raw aiokafka
consume -> produce pass-through on the same topics, measured in the same run.

Setup: 1,000 unit topics, 20 KiB documents signed in advance (signing is the connector's
cost, not the router's). Throughput drains a backlog; latency paces documents at a steady
rate and compares each record's timestamp on the unit topic with its timestamp on the
submit topic. `make bench` writes bench-results/router.{json,md}.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from broker import provisioning
from broker.directory import Directory, Unit, store
from connectors import packing
from kernel import database, kafka
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack import stack
from schemas import codec
from signing.identity import Identity
from signing.testpki import write_pki

OUT = Path(os.environ.get("LIENTHONG_BENCH_DIR", "bench-results"))
BACKLOG = int(os.environ.get("LIENTHONG_BENCH_BACKLOG", "1000"))
ROUNDS = int(os.environ.get("LIENTHONG_BENCH_ROUNDS", "2"))
PACED, RATE = 300, 50.0
UNITS = 1000
SENDERS = [f"000.00.{i:02d}.H98" for i in range(1, 21)]
SETTLE_SECONDS = 5.0
TO_HEADER = "bench.to"
ID_HEADER = "bench.id"


def _units() -> list[str]:
    return [f"{i // 100:03d}.{i % 100:02d}.00.H99" for i in range(UNITS)]


async def _records(
    identities: list[Identity], registry: codec.Registry, count: int
) -> list[tuple[bytes, bytes, codec.Headers]]:
    """(key, value, headers): 20 senders in turn, each document to a random unit of 1,000."""
    rng = random.Random(7)
    units = _units()
    out = []
    for index in range(count):
        identity = identities[index % len(identities)]
        edxml = (
            '<?xml version="1.0"?><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
            f"<edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>{identity.unit}"
            f"</OrganId></From><Subject>{'Văn bản thử tải ' * 1280}</Subject></MessageHeader>"
            "</edXMLHeader></edXMLEnvelope></edXML>"
        ).encode()
        to = rng.choice(units)
        body = packing.build_body(edxml, sender=identity.unit, recipients=[to])
        headers, value = identity.seal(registry, body)
        extra = [(TO_HEADER, to.encode()), (ID_HEADER, body.message_id.encode())]
        out.append((identity.unit.encode(), value, [*headers, *extra]))
    return out


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    records: list[tuple[bytes, bytes, codec.Headers]],
    rate: float | None,
) -> None:
    start = time.monotonic()
    pending = []
    for index, (key, value, headers) in enumerate(records):
        if rate:
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        pending.append(await producer.send(topic, value, key=key, headers=headers))
    await asyncio.gather(*pending)


async def _pass_through(config: ClientConfig, topics: Topics, count: int, group: str) -> float:
    """The floor: consume each record and produce it to its unit topic, nothing else."""
    consumer = AIOKafkaConsumer(
        topics.submit, **config.aiokafka(), group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=32 * 1024 * 1024,
    )  # fmt: skip
    producer = AIOKafkaProducer(**config.aiokafka(), acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    await kafka.track_topics(producer, [topics.unit(u) for u in _units()])
    done, started = 0, None
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=200)
            started = started or time.monotonic()
            futures = []
            for records in batch.values():
                for record in records:
                    to = dict(record.headers)[TO_HEADER].decode()
                    futures.append(
                        await producer.send(
                            topics.unit(to),
                            record.value,
                            key=record.key,
                            headers=list(record.headers),
                        )
                    )
            await asyncio.gather(*futures)
            done += len(futures)
            if batch:
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return count / (time.monotonic() - (started or time.monotonic()))


async def routed_count(dsn: str, schema: str) -> int:
    conn = await database.connect(dsn, schema=schema)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages WHERE verdict = 'routed'"))
    finally:
        await conn.close()


async def _latencies(
    config: ClientConfig, topics: Topics, since_ms: int, count: int
) -> list[float]:
    """Per record, unit-topic timestamp minus submit-topic timestamp, in milliseconds."""
    submit = AIOKafkaConsumer(
        topics.submit,
        **config.aiokafka(),
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    units = AIOKafkaConsumer(
        **config.aiokafka(),
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    await submit.start()
    await units.start()
    units.subscribe(pattern=f"^{topics.prefix.replace('.', '[.]')}unit[.].*")
    sent: dict[bytes, int] = {}
    arrived: dict[bytes, int] = {}
    try:
        deadline = time.monotonic() + 120
        while (len(sent) < count or len(arrived) < count) and time.monotonic() < deadline:
            for consumer, into in ((submit, sent), (units, arrived)):
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        if record.timestamp >= since_ms:
                            into[dict(record.headers)[ID_HEADER]] = record.timestamp
    finally:
        await submit.stop()
        await units.stop()
    return [float(arrived[k] - sent[k]) for k in arrived if k in sent]


def _router_processes(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-m", "lienthong", "router", "run"], env=env,
                         stdout=(logs / f"router{i}.log").open("wb"), stderr=subprocess.STDOUT)
        for i in range(n)
    ]  # fmt: skip


async def _drop_topics(config: ClientConfig, names: list[str]) -> None:
    """Delete, wait until the cluster no longer lists them, and let the broker settle."""
    await kafka.delete_topics(config, names)
    deadline = time.monotonic() + 120
    async with kafka.admin_client(config) as client:
        while left := set(names) & set(await client.list_topics()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(left)} deleted topics are still listed after 120 s")
            await asyncio.sleep(0.5)
    await asyncio.sleep(SETTLE_SECONDS)


async def run_case(
    routers: int, base: Settings, found: stack.Endpoints, scratch: Path
) -> dict[str, float]:
    """One measurement on a thousand topics of its own, gone before the next case starts:
    on this machine each extra thousand partitions slowed even the raw pass-through
    (363, 234, 71 records/s over three sets kept side by side)."""
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"b{tag}.", f"b_{tag}"
    topics = Topics(prefix)
    dsn = found.database_url.reveal()
    pki_dir = scratch / tag
    write_pki(pki_dir, [(u, f"Bench sender {u}") for u in SENDERS], router_unit=base.router_unit)
    identities = [Identity.load(pki_dir / "units" / u, u) for u in SENDERS]
    registry = codec.Registry.load()
    admin = await database.connect(dsn)
    await database.migrate(admin, schema=schema)
    conn = await database.connect(dsn, schema=schema)
    await store.save(
        conn,
        Directory(
            [
                *(Unit(u, f"Bench sender {u}", "province") for u in SENDERS),
                *(Unit(u, u, "commune") for u in _units()),
            ]
        ),
    )
    await conn.close()
    specs = topics.specs(_units(), submit_partitions=6)
    await kafka.ensure_topics(found.kafka, specs)
    clients = scratch / tag / "kafka-clients"
    await provisioning.router_client(
        dataclasses.replace(base, kafka_clients=clients), found.kafka, topics, base.router_name
    )
    producer = AIOKafkaProducer(
        **found.kafka.aiokafka(),
        acks="all",
        linger_ms=5,
        max_request_size=32 * 1024 * 1024,
    )
    await producer.start()
    env = {
        **os.environ,
        "LIENTHONG_KAFKA_BOOTSTRAP": found.kafka_bootstrap,
        "LIENTHONG_KAFKA_CLIENTS": str(clients),
        "LIENTHONG_DATABASE_URL": dsn,
        "LIENTHONG_DATABASE_SCHEMA": schema,
        "LIENTHONG_TOPIC_PREFIX": prefix,
        "LIENTHONG_PKI_DIR": str(pki_dir),
        "LIENTHONG_ENV": "production",
        "LIENTHONG_LOG_LEVEL": "WARNING",
    }
    result: dict[str, float] = {"routers": routers}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        backlog = await _records(identities, registry, BACKLOG)
        await publish(producer, topics.submit, backlog, None)
        result["pass_through_per_s"] = await _pass_through(
            found.kafka, topics, BACKLOG, f"{prefix}pass"
        )
        processes = _router_processes(routers, env, pki_dir)
        started = None
        while (done := await routed_count(dsn, schema)) < BACKLOG:
            if done and started is None:
                started = (time.monotonic(), done)
            await asyncio.sleep(0.05)
        assert started is not None
        result["router_per_s"] = (BACKLOG - started[1]) / (time.monotonic() - started[0])
        result["ratio"] = result["router_per_s"] / result["pass_through_per_s"]
        since = int(time.time() * 1000)
        await publish(producer, topics.submit, await _records(identities, registry, PACED), RATE)
        latencies = sorted(await _latencies(found.kafka, topics, since, PACED))
        result["latency_p50_ms"] = statistics.median(latencies)
        result["latency_p99_ms"] = latencies[int(len(latencies) * 0.99) - 1]
        result["latency_samples"] = len(latencies)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        await producer.stop()
        await _drop_topics(found.kafka, [s.name for s in specs])
        await provisioning.remove_deployment(found.kafka, topics)
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    return result


async def main() -> None:
    base = Settings.from_env()
    found, _ = await stack.up(base)
    scratch = base.state_dir / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    # Cases alternate over ROUNDS, so drift on this shared machine (a broker still warming
    # up, another job) hits them alike; every row is reported.
    rows = [await run_case(n, base, found, scratch) for _ in range(ROUNDS) for n in (1, 2)]
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backlog": BACKLOG, "paced": PACED, "rate_per_s": RATE, "unit_topics": UNITS,
        "document_bytes": 20 * 1024, "cpus": os.cpu_count(), "rounds": ROUNDS,
    }  # fmt: skip
    (OUT / "router.json").write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# Router throughput and latency",
        "",
        f"{meta['when']}, {os.cpu_count()} cpu, {UNITS} unit topics, {len(SENDERS)} senders, "
        "20 KiB documents; "
        f"throughput drains a backlog of {BACKLOG}, latency paces {PACED} at {RATE:g}/s "
        "(unit-topic minus submit-topic timestamp).",
        "Pass-through = raw aiokafka consume -> produce on the same topics, same run; "
        f"cases alternate over {ROUNDS} rounds, each row one case.",
        "",
        "| routers | pass-through/s | router/s | ratio | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['routers']:.0f} | {row['pass_through_per_s']:.0f} "
            f"| {row['router_per_s']:.0f} | {row['ratio']:.2f} "
            f"| {row['latency_p50_ms']:.0f} | {row['latency_p99_ms']:.0f} |"
        )
    (OUT / "router.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
