"""Envelopes per second through the router, and end-to-end latency, next to a raw aiokafka
consume -> produce pass-through on the same topics, measured in the same run; each case on
the secured dev broker (SASL_SSL, SCRAM-SHA-512, ACLs) and on a PLAINTEXT broker without an
authorizer, to show what the security costs.

Setup: 1,000 unit topics, 20 KiB documents signed in advance (signing is the connector's
cost, not the router's). Throughput drains a backlog; latency paces documents at a steady
rate and compares each record's timestamp on the unit topic with its timestamp on the
submit topic. The PLAINTEXT broker is started here from the same jars, with the same
settings but its listeners, on free ports and a state dir of its own, and is stopped and
wiped at the end; nothing else ever runs one. `make bench` writes
bench-results/router.{json,md}.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from lienthong.devstack.kafka import LocalKafka
from schemas import codec
from signing.identity import Identity
from signing.testpki import write_pki

OUT = Path(os.environ.get("LIENTHONG_BENCH_DIR", "bench-results"))
# 600 (was 1,000): each case now runs on both brokers, and the bench stays within twice
# the time it took before.
BACKLOG = int(os.environ.get("LIENTHONG_BENCH_BACKLOG", "600"))
ROUNDS = int(os.environ.get("LIENTHONG_BENCH_ROUNDS", "2"))
PACED, RATE = 300, 50.0
UNITS = 1000
SENDERS = [f"000.00.{i:02d}.H98" for i in range(1, 21)]
SETTLE_SECONDS = 5.0
SECURED, PLAINTEXT = "SASL_SSL", "PLAINTEXT"
TO_HEADER = "bench.to"
ID_HEADER = "bench.id"


@dataclasses.dataclass(frozen=True, slots=True)
class Cluster:
    kafka: str
    """SECURED (the dev broker) or PLAINTEXT (the bench's own)."""
    admin: ClientConfig


@asynccontextmanager
async def plaintext_cluster(base: Settings, scratch: Path) -> AsyncIterator[Cluster]:
    """A PLAINTEXT broker from the same jars, on free ports and a state dir of its own;
    stopped and wiped on the way out."""
    settings = dataclasses.replace(
        base, state_dir=scratch / f"plaintext-{uuid.uuid4().hex[:8]}", kafka_bootstrap=None,
        kafka_clients=None, kafka_port=_free_port(), kafka_controller_port=_free_port(),
    )  # fmt: skip
    local = LocalKafka(settings, secured=False)
    try:
        await local.start()
        yield Cluster(PLAINTEXT, local.admin_config())
    finally:
        local.stop()
        local.wipe()
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    """Per record, unit-topic timestamp minus submit-topic timestamp, in milliseconds; a
    record is known by its message id (our header on submit, the router's key on the unit
    topic: the router passes none of a sender's own headers on)."""
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
                            key = dict(record.headers)[ID_HEADER] if into is sent else record.key
                            into[key or b""] = record.timestamp
    finally:
        await submit.stop()
        await units.stop()
    return [float(arrived[k] - sent[k]) for k in arrived if k in sent]


async def _until_writable(producer: AIOKafkaProducer, names: list[str]) -> None:
    """One empty record to each new unit topic, acknowledged: the broker elects leaders and
    creates logs for a thousand partitions for seconds after CreateTopics answers, and a
    measurement that overlapped it timed that instead (40x apart between twin runs). Nothing
    reads these records: the pass-through and the routers read the submit topic, latency
    skips records older than its start."""
    await asyncio.gather(*[await producer.send(name, b"") for name in names])


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


async def _router_config(settings: Settings, cluster: Cluster, topics: Topics, name: str) -> None:
    """The router principal's client config file: provisioned (SCRAM credentials and ACLs)
    on the secured broker, a bare PLAINTEXT config on the other."""
    if cluster.kafka == SECURED:
        await provisioning.router_client(settings, cluster.admin, topics, name)
    else:
        ClientConfig(cluster.admin.bootstrap).save(
            kafka.config_path(settings, topics.router_user(name))
        )


async def run_case(
    routers: int, cluster: Cluster, base: Settings, found: stack.Endpoints, scratch: Path
) -> dict[str, float]:
    """One measurement on a thousand topics of its own, gone before the next case starts:
    on this machine each extra thousand partitions slowed even the raw pass-through
    (363, 234, 71 records/s over three sets kept side by side)."""
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"b{tag}.", f"b_{tag}"
    topics = Topics(prefix)
    dsn = found.database_url.reveal()
    owner = (found.owner_database_url or found.database_url).reveal()
    pki_dir = scratch / tag
    write_pki(pki_dir, [(u, f"Bench sender {u}") for u in SENDERS], router_id=base.router_id)
    identities = [Identity.load(pki_dir / "units" / u, u) for u in SENDERS]
    registry = codec.Registry.load()
    admin = await database.connect(dsn)
    migrating = await database.connect(owner)
    await database.migrate(migrating, schema=schema)
    await migrating.close()
    conn = await database.connect(owner, schema=schema)
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
    await kafka.ensure_topics(cluster.admin, specs)
    clients = scratch / tag / "kafka-clients"
    await _router_config(
        dataclasses.replace(base, kafka_clients=clients), cluster, topics, base.router_name
    )
    producer = AIOKafkaProducer(
        **cluster.admin.aiokafka(),
        acks="all",
        linger_ms=5,
        max_request_size=32 * 1024 * 1024,
    )
    await producer.start()
    await kafka.track_topics(producer, [topics.unit(u) for u in _units()])
    await _until_writable(producer, [topics.unit(u) for u in _units()])
    env = {
        **{k: v for k, v in os.environ.items() if k != "LIENTHONG_KAFKA_CLIENT_CONFIG"},
        "LIENTHONG_KAFKA_BOOTSTRAP": cluster.admin.bootstrap,
        "LIENTHONG_KAFKA_CLIENTS": str(clients),
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
            cluster.admin, topics, BACKLOG, f"{prefix}pass"
        )
        processes = _router_processes(routers, env, pki_dir)
        started = None
        while (done := await routed_count(dsn, schema)) < BACKLOG:
            if all(process.poll() is not None for process in processes):
                raise RuntimeError(f"the routers exited; see {pki_dir}/router*.log")
            if done and started is None:
                started = (time.monotonic(), done)
            await asyncio.sleep(0.05)
        assert started is not None
        result["router_per_s"] = (BACKLOG - started[1]) / (time.monotonic() - started[0])
        result["ratio"] = result["router_per_s"] / result["pass_through_per_s"]
        since = int(time.time() * 1000)
        await publish(producer, topics.submit, await _records(identities, registry, PACED), RATE)
        latencies = sorted(await _latencies(cluster.admin, topics, since, PACED))
        result["latency_p50_ms"] = statistics.median(latencies)
        result["latency_p99_ms"] = latencies[int(len(latencies) * 0.99) - 1]
        result["latency_samples"] = len(latencies)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        await producer.stop()
        await _drop_topics(cluster.admin, [s.name for s in specs])
        if cluster.kafka == SECURED:
            await provisioning.remove_deployment(cluster.admin, topics)
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    shutil.rmtree(pki_dir)  # kept, with the routers' logs, when the case failed
    return result


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    round: int
    kafka: str
    routers: int
    row: dict[str, float]


METRICS = (  # (case, key, label); pass-through pools the 1- and 2-router cases
    ("pass-through", "pass_through_per_s", "records/s"),
    ("router", "router_per_s", "envelopes/s"),
    ("router", "latency_p50_ms", "p50 ms"),
    ("router", "latency_p99_ms", "p99 ms"),
)
MEANING = (
    "secured/plaintext is the secured figure divided by the PLAINTEXT one, for the same "
    "case, code and machine, the two alternated in the same run. For throughput, 1.00 means "
    "the security costs nothing and 0.80 means it costs a fifth of the throughput; for "
    "latency, above 1 means slower. It is the price of TLS on every connection (clients, "
    "routers, the broker's own), SCRAM-SHA-512 logins and the authorizer's ACL checks, on a "
    "2-core machine where broker, routers and clients share the CPUs, so encryption on both "
    "ends competes with the router's own work (signature checks, the ledger); brokers on "
    "their own hosts pay less of it. Pass-through is the raw aiokafka floor, measured in "
    "every case of both kinds (its 1- and 2-router rows pooled), as the admin principal, a "
    "super user the authorizer waves through; the routers run as their own principal and "
    "are checked against their ACLs. In parentheses, each "
    "round's own ratio: their spread is the noise of this run."
)


def _mean(
    measured: list[Measured], key: str, kind: str, routers: int | None, rnd: int | None = None
) -> float:
    return statistics.mean(
        m.row[key]
        for m in measured
        if m.kafka == kind and routers in (None, m.routers) and rnd in (None, m.round)
    )


def summary(measured: list[Measured]) -> list[dict[str, object]]:
    """Per case and metric: the mean on each broker and secured/plaintext, overall and per
    round (pairs measured back to back)."""
    out: list[dict[str, object]] = []
    rounds = sorted({m.round for m in measured})
    for case, key, label in METRICS:
        for routers in (None,) if case == "pass-through" else (1, 2):
            secured = _mean(measured, key, SECURED, routers)
            plaintext = _mean(measured, key, PLAINTEXT, routers)
            per_round = [
                _mean(measured, key, SECURED, routers, r)
                / _mean(measured, key, PLAINTEXT, routers, r)
                for r in rounds
            ]
            out.append({
                "case": case if routers is None else f"{routers} router{'s' * (routers > 1)}",
                "metric": label, "plaintext": plaintext, "secured": secured,
                "secured_over_plaintext": secured / plaintext,
                "per_round": ", ".join(f"{ratio:.2f}" for ratio in per_round),
            })  # fmt: skip
    return out


async def main() -> None:
    base = Settings.from_env()
    found, _ = await stack.up(base)
    scratch = base.state_dir / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    measured: list[Measured] = []
    began = time.monotonic()
    async with plaintext_cluster(base, scratch) as plaintext:
        secured = Cluster(SECURED, found.kafka)
        # Cases alternate over ROUNDS, secured and PLAINTEXT back to back and each first
        # as often, so drift on this shared machine (a broker still warming up, another
        # job) hits them alike; every row is reported.
        for rnd in range(ROUNDS):
            for n in (1, 2):
                pair = (secured, plaintext) if (rnd + n) % 2 else (plaintext, secured)
                for cluster in pair:
                    case_began = time.monotonic()
                    row = await run_case(n, cluster, base, found, scratch)
                    row["case_seconds"] = time.monotonic() - case_began
                    measured.append(Measured(rnd, cluster.kafka, n, row))
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backlog": BACKLOG, "paced": PACED, "rate_per_s": RATE, "unit_topics": UNITS,
        "document_bytes": 20 * 1024, "cpus": os.cpu_count(), "rounds": ROUNDS,
        "bench_seconds": round(time.monotonic() - began),
        "secured": "SASL_SSL, SCRAM-SHA-512, TLS from the devstack CA, StandardAuthorizer",
        "plaintext": "PLAINTEXT listeners, no authorizer; same jars and broker settings",
    }  # fmt: skip
    rows = [{"round": m.round + 1, "kafka": m.kafka, **m.row} for m in measured]
    totals = summary(measured)
    (OUT / "router.json").write_text(
        json.dumps({**meta, "meaning": MEANING, "summary": totals, "results": rows}, indent=2)
        + "\n"
    )
    lines = [
        "# Router throughput and latency, secured and PLAINTEXT Kafka",
        "",
        f"{meta['when']}, {os.cpu_count()} cpu, {UNITS} unit topics, {len(SENDERS)} senders, "
        "20 KiB documents; "
        f"throughput drains a backlog of {BACKLOG}, latency paces {PACED} at {RATE:g}/s "
        "(unit-topic minus submit-topic timestamp).",
        "Pass-through = raw aiokafka consume -> produce on the same topics, same run. "
        "Secured = the dev broker (SASL_SSL, SCRAM-SHA-512, ACLs); PLAINTEXT = a broker from "
        "the same jars and settings without TLS, SASL or authorizer, started for this run. "
        f"Cases alternate over {ROUNDS} rounds, secured and PLAINTEXT back to back.",
        "",
        "| case | metric | PLAINTEXT | secured | secured/plaintext (per round) |",
        "|---|---|---:|---:|---|",
    ]
    for total in totals:
        lines.append(
            f"| {total['case']} | {total['metric']} | {total['plaintext']:.0f} "
            f"| {total['secured']:.0f} | {total['secured_over_plaintext']:.2f} "
            f"({total['per_round']}) |"
        )
    lines += [
        "",
        MEANING,
        "",
        "Every case, in the order run:",
        "",
        "| round | kafka | routers | pass-through/s | router/s | router/pass-through "
        "| p50 ms | p99 ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measured:
        row = m.row
        lines.append(
            f"| {m.round + 1} | {m.kafka} | {m.routers} | {row['pass_through_per_s']:.0f} "
            f"| {row['router_per_s']:.0f} | {row['ratio']:.2f} "
            f"| {row['latency_p50_ms']:.0f} | {row['latency_p99_ms']:.0f} |"
        )
    (OUT / "router.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
