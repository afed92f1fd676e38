"""The router next to Kafka's own speed, measured in one run on one broker (the secured dev
broker: SASL_SSL, SCRAM-SHA-512, ACLs), as issue 11 asks.

- Kafka's ceiling: `ProducerPerformance` (acks=all) and `ConsumerPerformance` from the
  kafka-tools jar, on records the size of the router's documents (`kafka_perf.py`), at the
  start and at the end of the run.
- Throughput: documents/s drained by 1 and 2 `lienthong router run` processes, clamd off
  and on. The routers are started, their group is stable and a few documents have warmed
  them up; then a backlog is published in a burst (far faster than they route it) and the
  rate runs from the first routed document to the last (ledger rows, polled). Two rounds in
  mirrored order. The CPU each part spent meanwhile (routers, broker, PostgreSQL, clamd,
  the bench, anything else) is recorded per document: on a shared machine the rate drifts,
  the router's CPU per document much less.
- Latency at a paced 200 documents/s: from the bench's send (the record's CreateTime on
  submit) to its append to the unit topic (the unit topics use LogAppendTime here, so the
  broker, not the router, says when a receiver could read it).
- Priority: urgent documents (edXML priority 1-3) on the urgent lane, first to an idle
  router, then behind a backlog of normal documents queued on submit. A lane the router
  does not read shows as nothing delivered within the wait, with a note.
- Topics: the per-document cost with 1,000, then 10,000, then 1,000 unit topics again
  (each set created in batches, gone before the next).
- The 100 MB attachment by reference: `tests.bench.claims` in a process of its own, whose
  peak memory (and its workers') is that flow's alone.

Documents are what agencies send (`agency.py`), signed in advance. Every deployment has a
topic prefix and a schema of its own, deleted at the end. `make bench-router` writes
bench-results/router.{json,md,png} and (full runs only) docs/performance.png.
LIENTHONG_BENCH_QUICK=1 scales everything down; LIENTHONG_BENCH_<KNOB> sets one knob (see
KNOBS); LIENTHONG_BENCH_ROUTER_SOURCE runs the routers from another checkout (a directory),
to compare two versions on one stack (this checkout's migrations are applied either way).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription
from prometheus_client.parser import text_string_to_metric_families

from broker import provisioning
from broker.directory import Directory, Unit, store
from kernel import database, kafka
from kernel.kafka import ClientConfig, TopicSpec
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack import stack
from lienthong.devstack.clamd import LocalClamd
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import LocalPostgres
from schemas import codec
from signing.testpki import write_pki
from tests.bench import kafka_perf
from tests.bench.agency import (
    NORMAL,
    PDF_BYTES,
    SENDERS,
    SUBJECT,
    URGENT,
    Signed,
    Signer,
    unit_ids,
)
from tests.bench.plot import Bar, Latency, plot
from tests.ports import free_range

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("LIENTHONG_BENCH_DIR", "bench-results"))
DOC_PLOT = ROOT / "docs" / "performance.png"
QUICK = os.environ.get("LIENTHONG_BENCH_QUICK", "") == "1"
KNOBS: dict[str, tuple[int, int]] = {  # name: (full run, quick run)
    "BACKLOG": (1000, 200),  # documents drained per throughput measurement
    "ROUNDS": (2, 1),  # rounds of the throughput cases, in mirrored order
    "PACED": (2000, 200),  # documents sent at RATE per latency case
    "RATE": (200, 200),  # documents/s of the latency cases
    "URGENT": (100, 20),  # urgent documents, idle and behind the queue
    "QUEUED": (10_000, 1_000),  # normal documents queued before the urgent ones
    "URGENT_WAIT": (30, 15),  # seconds to wait for the urgent documents
    "UNITS": (1_000, 100),  # unit topics of the main deployment
    "MANY_UNITS": (10_000, 1_000),  # unit topics of the second
    "KAFKA_RECORDS": (20_000, 2_000),  # records through Kafka's perf tools
}


def knob(name: str) -> int:
    value = os.environ.get(f"LIENTHONG_BENCH_{name}")
    full, quick = KNOBS[name]
    return int(value) if value else quick if QUICK else full


ROUTER_SOURCE = os.environ.get("LIENTHONG_BENCH_ROUTER_SOURCE") or None
WARMUP = 12
"""Documents each router set routes before a measurement: the group has settled, the worker
pools and database connections are up."""
TOPIC_BATCH = 500
"""Topics per CreateTopics/DeleteTopics request: ten thousand in one time out."""
LATENCY_TARGET_MS = 250.0
Record = tuple[bytes, bytes, codec.Headers]
T = TypeVar("T")


def percentile(values: Sequence[float], q: float, *, missing: int = 0) -> float | None:
    """Nearest-rank percentile, counting `missing` samples (never delivered) as slower than
    any: a percentile that falls among them has no value."""
    if not values and not missing:
        return None
    rank = math.ceil(q * (len(values) + missing)) - 1
    ordered = sorted(values)
    return ordered[rank] if rank < len(ordered) else None


async def publish(
    producer: AIOKafkaProducer, topic: str, records: Sequence[Record], rate: float | None
) -> list[int]:
    """Send `records` (at `rate` per second, or as fast as the producer takes them) and
    return each one's CreateTime, the moment the bench sent it."""
    start = time.monotonic()
    pending = []
    for index, (key, value, headers) in enumerate(records):
        if rate:
            await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        pending.append(await producer.send(topic, value, key=key, headers=headers))
    return [int(sent.timestamp) for sent in await asyncio.gather(*pending)]


async def routed_count(dsn: str, schema: str) -> int:
    return (await verdicts(dsn, schema)).get("routed", 0)


async def verdicts(dsn: str, schema: str) -> dict[str, int]:
    """Documents in the ledger by verdict (reason codes for those not routed)."""
    conn = await database.connect(dsn, schema=schema)
    try:
        rows = await conn.fetch(
            "SELECT CASE WHEN verdict IN ('routed', 'routing') THEN verdict"
            " ELSE verdict || ':' || coalesce(reason_code, '?') END AS v, count(*) AS n"
            " FROM messages WHERE kind = 'document' GROUP BY 1"
        )
    finally:
        await conn.close()
    return {str(row["v"]): int(row["n"]) for row in rows}


def _records(documents: Sequence[Signed]) -> list[Record]:
    return [(d.key, d.value, d.headers) for d in documents]


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """CPU seconds (user and system, reaped children included) of `roots` and all their
    descendants: a router and its worker pool. Unlike a rate, it barely moves when another
    job shares the machine, so it is the steadier per-document cost."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        stats[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0.0, list(roots)
    while pending:
        pid = pending.pop()
        total += stats[pid][1] if pid in stats else 0.0
        pending.extend(children.get(pid, []))
    return total


@dataclasses.dataclass
class Deployment:
    """A prefix, a schema, unit topics and the router's principal, for one set of cases;
    `open` makes them, `close` deletes them all."""

    base: Settings
    found: stack.Endpoints
    pki_dir: Path
    units: list[str]
    tag: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def prefix(self) -> str:
        return f"b{self.tag}."

    @property
    def schema(self) -> str:
        return f"b_{self.tag}"

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix, self.base.max_message_bytes)

    @property
    def perf_topic(self) -> str:
        return f"{self.prefix}perf"

    @property
    def dsn(self) -> str:
        return self.found.database_url.reveal()

    @property
    def admin(self) -> ClientConfig:
        return self.found.kafka

    @property
    def scratch(self) -> Path:
        return self.base.state_dir / "bench" / self.tag

    @property
    def unit_topics(self) -> list[str]:
        return [self.topics.unit(u) for u in [*SENDERS, *self.units]]

    def specs(self) -> list[TopicSpec]:
        """The deployment's topics, and one for Kafka's perf tools configured like submit.
        Unit topics stamp records with LogAppendTime: when the broker took the copy."""
        specs = self.topics.specs([*SENDERS, *self.units], submit_partitions=6)
        units = set(self.unit_topics)
        return [
            dataclasses.replace(s, configs={**s.configs, "message.timestamp.type": "LogAppendTime"})
            if s.name in units
            else s
            for s in specs
        ] + [dataclasses.replace(specs[0], name=self.perf_topic)]

    async def open(self) -> None:
        owner = (self.found.owner_database_url or self.found.database_url).reveal()
        migrating = await database.connect(owner)
        try:
            await database.migrate(migrating, schema=self.schema)
        finally:
            await migrating.close()
        conn = await database.connect(owner, schema=self.schema)
        try:
            await store.save(
                conn,
                Directory([
                    *(Unit(u, f"Ủy ban nhân dân, đơn vị gửi {u}", "province") for u in SENDERS),
                    *(Unit(u, f"Ủy ban nhân dân xã {u}", "commune") for u in self.units),
                ]),
            )  # fmt: skip
        finally:
            await conn.close()
        specs = self.specs()
        for first in range(0, len(specs), TOPIC_BATCH):
            await kafka.ensure_topics(
                self.admin, specs[first : first + TOPIC_BATCH], visible_within=300
            )
        settings = dataclasses.replace(self.base, kafka_clients=self.scratch / "kafka-clients")
        await provisioning.router_client(settings, self.admin, self.topics, self.base.router_name)
        async with self.producer() as producer:
            await until_writable(producer, self.unit_topics)

    async def close(self) -> None:
        names = [s.name for s in self.specs()]
        for first in range(0, len(names), TOPIC_BATCH):
            await kafka.delete_topics(self.admin, names[first : first + TOPIC_BATCH])
        deadline = time.monotonic() + 300
        async with kafka.admin_client(self.admin) as client:
            while left := set(names) & set(await client.list_topics()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(left)} deleted topics are still listed after 300 s")
                await asyncio.sleep(1)
        await provisioning.remove_deployment(self.admin, self.topics)
        conn = await database.connect(self.dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def env(self, *, clamd: bool) -> dict[str, str]:
        """A router process's environment: this deployment, the shared PKI, clamd or not."""
        return {
            **{k: v for k, v in os.environ.items() if k != "LIENTHONG_KAFKA_CLIENT_CONFIG"},
            "LIENTHONG_STATE_DIR": str(self.base.state_dir),
            "LIENTHONG_KAFKA_BOOTSTRAP": self.admin.bootstrap,
            "LIENTHONG_KAFKA_CLIENTS": str(self.scratch / "kafka-clients"),
            "LIENTHONG_DATABASE_SCHEMA": self.schema,
            "LIENTHONG_TOPIC_PREFIX": self.prefix,
            "LIENTHONG_PKI_DIR": str(self.pki_dir),
            "LIENTHONG_CLAMD": (self.found.clamd or "none") if clamd else "none",
            "LIENTHONG_ENV": "production",
            "LIENTHONG_LOG_LEVEL": "WARNING",
            **({"PYTHONPATH": ROUTER_SOURCE} if ROUTER_SOURCE else {}),
        }

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[AIOKafkaProducer]:
        """The bench's own sender, as the admin (the router checks envelopes, not who
        produced them)."""
        producer = AIOKafkaProducer(
            **self.admin.aiokafka(), acks="all", linger_ms=5, max_request_size=32 * 1024 * 1024
        )
        await producer.start()
        try:
            yield producer
        finally:
            await producer.stop()

    async def verdicts(self) -> dict[str, int]:
        return await verdicts(self.dsn, self.schema)


async def until_writable(producer: AIOKafkaProducer, names: Sequence[str]) -> None:
    """One empty record to each new unit topic, acknowledged: the broker elects leaders and
    creates logs for thousands of partitions for seconds after CreateTopics answers, and a
    measurement that overlapped it timed that instead. Nothing reads these records: the
    arrival watcher starts at each topic's end."""
    await kafka.track_topics(producer, list(names))
    await asyncio.gather(*[await producer.send(name, b"") for name in names])


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat: how busy it was
    during a measurement says how much the rest (broker, database, clamd, other jobs) took."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return float(sum(fields) - idle), float(sum(fields))


def cpu_by_part(routers: Routers) -> dict[str, float]:
    """CPU seconds so far of each part of the exchange on this machine (the services the
    devstack runs, the routers, this bench) and of the machine as a whole: over a
    measurement, the difference says where the documents' cost went and how much of the
    machine something else (another job) took, as `other`."""
    base = routers.deployment.base
    services = {
        "kafka": LocalKafka(base).pid() if base.local_kafka else None,
        "postgres": LocalPostgres(base).pid() if base.local_postgres else None,
        "clamd": LocalClamd(base).pid() if base.local_clamd else None,
    }
    own = os.times()
    parts = {name: tree_cpu_seconds([pid] if pid else []) for name, pid in services.items()}
    parts["router"] = routers.cpu_seconds()
    parts["bench"] = own.user + own.system
    busy, _ = machine_cpu()
    parts["machine"] = busy / os.sysconf("SC_CLK_TCK")
    return parts


class Routers:
    """`count` `lienthong router run` processes of the deployment; stopped on exit."""

    def __init__(self, deployment: Deployment, count: int, *, clamd: bool) -> None:
        self.deployment, self.count, self.clamd = deployment, count, clamd
        self.logs = [
            deployment.scratch / f"router-{uuid.uuid4().hex[:6]}-{i}.log" for i in range(count)
        ]
        first = free_range(count, start=19600, step=count)
        self.metrics_ports = list(range(first, first + count))
        self.processes: list[subprocess.Popen[bytes]] = []

    async def __aenter__(self) -> Routers:
        env = self.deployment.env(clamd=self.clamd)
        try:
            self._start(env)
            await self.until_stable()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    def _start(self, env: dict[str, str]) -> None:
        for log, port in zip(self.logs, self.metrics_ports, strict=True):
            with log.open("wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "lienthong", "router", "run", "--metrics"],
                        env={**env, "LIENTHONG_METRICS_PORT": str(port)},
                        cwd=ROUTER_SOURCE or ROOT, stdout=out, stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip

    def round_steps(self) -> dict[str, list[float]]:
        """Each round step's [seconds, observations] so far, summed over the routers
        (lienthong_router_round_step_seconds; a router from a checkout before it has none)."""
        totals: dict[str, list[float]] = {}
        for port in self.metrics_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for family in text_string_to_metric_families(text):
                if family.name != ROUND_STEP:
                    continue
                for sample in family.samples:
                    total = totals.setdefault(sample.labels["step"], [0.0, 0.0])
                    if sample.name.endswith("_sum"):
                        total[0] += sample.value
                    elif sample.name.endswith("_count"):
                        total[1] += sample.value
        return totals

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds([p.pid for p in self.processes])

    def check(self) -> None:
        """A router that exited ends the case, with the end of its log."""
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(f"a router exited with {process.returncode}; {log}:\n{tail}")

    async def until_stable(self, timeout: float = 120.0) -> None:
        """Every router a member of the group, and the group stable: a rebalance inside a
        measurement would time the rebalance."""
        group = self.deployment.topics.router_group
        client = AdminClient({**self.deployment.admin.librdkafka(), "log_level": 3})
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            future = client.describe_consumer_groups([group], request_timeout=10)[group]
            try:
                found: ConsumerGroupDescription | None = await asyncio.to_thread(future.result, 15)
            except Exception:  # the group is not known yet; asked again below
                found = None
            if (
                found is not None
                and len(found.members) == self.count
                and found.state == ConsumerGroupState.STABLE
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the router group did not reach {self.count} stable members")
            await asyncio.sleep(0.5)


ROUND_STEP = "lienthong_router_round_step_seconds"
STEPS = ("ledger_read", "decide", "write", "produce", "mark_routed")


def round_profile(
    before: dict[str, list[float]], after: dict[str, list[float]], documents: int
) -> dict[str, Any] | None:
    """Where the routers' rounds spent their wall time between two scrapes: ms per round by
    step (a round = one `write`; its ledger reads are summed), and documents per round.
    Under load every document waits for its round's fixed steps, so this says what a
    latency is made of."""
    rounds = after.get("write", [0.0, 0.0])[1] - before.get("write", [0.0, 0.0])[1]
    if rounds <= 0:
        return None
    return {
        "rounds": int(rounds),
        "documents_per_round": round(documents / rounds, 1),
        "ms_per_round": {
            step: round((after.get(step, [0.0])[0] - before.get(step, [0.0])[0]) * 1000 / rounds, 2)
            for step in STEPS
        },
    }


class Arrivals:
    """When each document landed on its unit topic (the broker's LogAppendTime), for every
    unit topic of a deployment read from its end on; documents are known by the SHA-256 of
    their value, which the router passes on exactly as signed."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.landed: dict[bytes, int] = {}
        self.consumer = AIOKafkaConsumer(
            **deployment.admin.aiokafka(), enable_auto_commit=False,
            max_partition_fetch_bytes=32 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
        )  # fmt: skip
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Arrivals:
        await self.consumer.start()
        partitions = [TopicPartition(name, 0) for name in self.deployment.unit_topics]
        self.consumer.assign(partitions)
        for partition, end in (await self.consumer.end_offsets(partitions)).items():
            self.consumer.seek(partition, end)
        self.task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()

    async def _listen(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.value:
                        self.landed[_digest(record.value)] = int(record.timestamp)

    async def wait(self, digests: Sequence[bytes], timeout: float, routers: Routers) -> None:
        deadline = time.monotonic() + timeout
        while any(d not in self.landed for d in digests) and time.monotonic() < deadline:
            routers.check()
            await asyncio.sleep(0.1)

    def latencies(self, documents: Sequence[Signed], sent: Sequence[int]) -> list[float]:
        out = []
        for document, at in zip(documents, sent, strict=True):
            landed = self.landed.get(_digest(document.value))
            if landed is not None:
                out.append(float(landed - at))
        return out


def _latency_row(latencies: list[float], count: int, waited: float) -> dict[str, Any]:
    missing = count - len(latencies)
    return {
        "documents": count,
        "delivered": len(latencies),
        "p50_ms": percentile(latencies, 0.50, missing=missing),
        "p99_ms": percentile(latencies, 0.99, missing=missing),
        "max_ms": max(latencies) if latencies and not missing else None,
        "mean_ms": statistics.mean(latencies) if latencies else None,
        "wait_bound_s": round(waited, 1),
    }


async def warm_up(deployment: Deployment, routers: Routers, signer: Signer) -> None:
    documents = signer.sign(WARMUP * routers.count, deployment.units)
    await drain(deployment, routers, documents)


async def drain(
    deployment: Deployment, routers: Routers, documents: Sequence[Signed]
) -> dict[str, Any]:
    """Publish `documents` in a burst and wait until the router has routed them all; the
    rate runs from the first routed to the last. Anything refused or held ends the case:
    the bench measures documents that go through."""
    before = await deployment.verdicts()
    target = before.get("routed", 0) + len(documents)
    cpu, machine, steps = cpu_by_part(routers), machine_cpu(), routers.round_steps()
    async with deployment.producer() as producer:
        began = time.monotonic()
        await publish(producer, deployment.topics.submit, _records(documents), None)
        published = time.monotonic() - began
    first: float | None = None
    deadline = time.monotonic() + max(120.0, len(documents) / 5)
    while True:
        now = await deployment.verdicts()
        routed = now.get("routed", 0)
        if first is None and routed > before.get("routed", 0):
            first = time.monotonic()
        if routed >= target:
            break
        others = {k: n - before.get(k, 0) for k, n in now.items() if not k.startswith("rout")}
        if any(others.values()):
            raise RuntimeError(f"documents were not routed: {others}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target - routed} of {len(documents)} not routed in time")
        routers.check()
        await asyncio.sleep(0.05)
    seconds = time.monotonic() - (first or began)
    busy, total = (now - then for now, then in zip(machine_cpu(), machine, strict=True))
    spent = {
        part: (seconds - cpu[part]) * 1000 / len(documents)
        for part, seconds in cpu_by_part(routers).items()
    }
    spent["other"] = spent.pop("machine") - sum(spent.values())
    return {
        "documents": len(documents),
        "per_s": (len(documents) - 1) / seconds if seconds > 0 else None,
        "cpu_ms_per_document": spent["router"],
        "cpu_ms_per_document_by_part": {part: round(ms, 2) for part, ms in spent.items()},
        "seconds": round(seconds, 2),
        "publish_seconds": round(published, 2),
        "machine_busy": round(busy / total, 2) if total else None,
        "load_1min": round(os.getloadavg()[0], 2),
        "round_profile": round_profile(steps, routers.round_steps(), len(documents)),
    }


async def throughput(
    deployment: Deployment, signer: Signer, routers: int, *, clamd: bool
) -> dict[str, Any]:
    documents = signer.sign(knob("BACKLOG"), deployment.units)
    async with Routers(deployment, routers, clamd=clamd) as running:
        await warm_up(deployment, running, signer)
        row = await drain(deployment, running, documents)
    return {"routers": routers, "clamd": clamd, "unit_topics": len(deployment.units), **row}


async def paced(deployment: Deployment, signer: Signer, *, clamd: bool) -> dict[str, Any]:
    """One router, documents sent at RATE per second, each one's latency."""
    rate, count = float(knob("RATE")), knob("PACED")
    documents = signer.sign(count, deployment.units)
    wait = max(60.0, count / rate)
    async with (
        Routers(deployment, 1, clamd=clamd) as running,
        Arrivals(deployment) as arrivals,
    ):
        await warm_up(deployment, running, signer)
        steps = running.round_steps()
        async with deployment.producer() as producer:
            sent = await publish(producer, deployment.topics.submit, _records(documents), rate)
        await arrivals.wait([_digest(d.value) for d in documents], wait, running)
        latencies = arrivals.latencies(documents, sent)
        profile = round_profile(steps, running.round_steps(), count)
    row = _latency_row(latencies, count, wait)
    load = round(os.getloadavg()[0], 2)
    return {
        "routers": 1, "clamd": clamd, "rate_per_s": rate, **row, "load_1min": load,
        "round_profile": profile,
    }  # fmt: skip


async def priority(deployment: Deployment, signer: Signer, *, clamd: bool) -> dict[str, Any]:
    """Urgent documents on the urgent lane: first to an idle router, then right after
    QUEUED normal documents were queued on submit. Each part waits URGENT_WAIT at most."""
    count, queued, wait = knob("URGENT"), knob("QUEUED"), float(knob("URGENT_WAIT"))
    lane = deployment.topics.submit_urgent
    idle_docs = signer.sign(count, deployment.units, priority=URGENT)
    result: dict[str, Any] = {
        "urgent": count, "queued": queued, "lane": lane, "clamd": clamd, "routers": 1,
        "priorities": list(URGENT),
    }  # fmt: skip
    async with (
        Routers(deployment, 1, clamd=clamd) as running,
        Arrivals(deployment) as arrivals,
        deployment.producer() as producer,
    ):
        await warm_up(deployment, running, signer)
        sent = await publish(producer, lane, _records(idle_docs), None)
        await arrivals.wait([_digest(d.value) for d in idle_docs], wait, running)
        result["idle"] = _latency_row(arrivals.latencies(idle_docs, sent), count, wait)
        if not result["idle"]["delivered"]:
            result["behind_queue"] = None
            result["note"] = (
                f"No urgent document published to {lane} reached a unit topic within "
                f"{wait:g} s, even on an idle router: the router does not read the urgent "
                "lane. The queued case was not run."
            )
            return result
        backlog = signer.sign(queued, deployment.units, priority=NORMAL)
        urgent_docs = signer.sign(count, deployment.units, priority=URGENT)
        before = (await deployment.verdicts()).get("routed", 0)
        began = time.monotonic()
        await publish(producer, deployment.topics.submit, _records(backlog), None)
        queued_in = time.monotonic() - began
        routed = (await deployment.verdicts()).get("routed", 0) - before
        sent = await publish(producer, lane, _records(urgent_docs), None)
        await arrivals.wait([_digest(d.value) for d in urgent_docs], wait, running)
        row = _latency_row(arrivals.latencies(urgent_docs, sent), count, wait)
        result["behind_queue"] = {
            **row, "queue_published_s": round(queued_in, 2),
            "still_queued_when_urgent_sent": queued - routed,
        }  # fmt: skip
        if row["delivered"] < count:
            result["note"] = (
                f"{count - row['delivered']} of {count} urgent documents had not reached a "
                f"unit topic {wait:g} s after they were sent behind the queue."
            )
    return result


async def kafka_ceiling(deployment: Deployment, record_bytes: int) -> dict[str, Any]:
    """Kafka's perf tools on the deployment's perf topic (six partitions, like submit)."""
    records = knob("KAFKA_RECORDS")
    config = kafka_perf.client_properties(deployment.admin, deployment.scratch / "admin.properties")
    settings = deployment.base
    produced = await kafka_perf.produce(
        settings, config, deployment.perf_topic, records, record_bytes,
        deployment.scratch / "producer-performance.log",
    )  # fmt: skip
    consumed = await kafka_perf.consume(
        settings, deployment.admin, config, deployment.perf_topic, records,
        deployment.scratch / "consumer-performance.log",
    )  # fmt: skip
    return {
        "records": records, "record_bytes": record_bytes, "partitions": 6, "acks": "all",
        "producer": dataclasses.asdict(produced), "consumer": dataclasses.asdict(consumed),
    }  # fmt: skip


@asynccontextmanager
async def deployment_of(
    base: Settings, found: stack.Endpoints, pki_dir: Path, units: int
) -> AsyncIterator[Deployment]:
    deployment = Deployment(base, found, pki_dir, unit_ids(units))
    deployment.scratch.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    try:
        await deployment.open()
        print(f"{units} unit topics ready in {time.monotonic() - began:.0f} s", flush=True)
        yield deployment
    finally:
        await deployment.close()


class Run:
    """The cases in order, each one's failure recorded (and the run's exit status set)
    rather than ending the run: the other figures still stand."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}

    async def case(self, name: str, work: Awaitable[T]) -> T | None:
        began = time.monotonic()
        print(f"{name} …", flush=True)
        try:
            result = await work
        except Exception as exc:  # recorded in the results, and the exit status
            self.failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"{name} FAILED: {self.failures[name]}", flush=True)
            return None
        print(f"{name}: {time.monotonic() - began:.0f} s {json.dumps(result)[:300]}", flush=True)
        return result

    async def deployment(
        self,
        name: str,
        base: Settings,
        found: stack.Endpoints,
        pki_dir: Path,
        units: int,
        cases: Callable[[Deployment], Awaitable[None]],
    ) -> None:
        """A deployment for `cases`; one that cannot be made or deleted is a failure too."""
        try:
            async with deployment_of(base, found, pki_dir, units) as deployment:
                await cases(deployment)
        except Exception as exc:  # recorded in the results, and the exit status
            self.failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"{name} FAILED: {self.failures[name]}", flush=True)


async def measure() -> tuple[dict[str, Any], dict[str, str]]:
    base = Settings.from_env()
    found, _ = await stack.up(base)
    scratch = base.state_dir / "bench"
    pki_dir = scratch / f"pki-{uuid.uuid4().hex[:8]}"
    write_pki(pki_dir, [(u, f"Bench sender {u}") for u in SENDERS], router_id=base.router_id)
    signer = Signer(pki_dir)
    run = Run()
    out: dict[str, Any] = {}
    try:
        probe = signer.sign(50, unit_ids(10))
        record_bytes = round(statistics.mean(len(d.value) for d in probe))
        out["document"] = {
            "record_bytes": record_bytes, "pdf_bytes": PDF_BYTES,
            "subject_chars": len(SUBJECT.format(number=1000)), "senders": len(SENDERS),
            "recipients_per_document": 1, "policy": "default (broker/policy/default.yaml)",
            "pdf": "one page: a line of text and a scanned image; not PAdES-signed (the "
            "default policy flags that, and routes it)",
        }  # fmt: skip

        async def main_cases(few: Deployment) -> None:
            out["kafka"] = await run.case("kafka perf tools", kafka_ceiling(few, record_bytes))
            rows = []
            # Rounds in mirrored order (A B C D, D C B A), so that drift on this shared
            # machine (another job, a broker still flushing) weighs on every case alike.
            for round_ in range(knob("ROUNDS")):
                for routers, clamd in CASES if round_ % 2 == 0 else CASES[::-1]:
                    name = f"throughput, {routers} router(s), clamd {'on' if clamd else 'off'}"
                    row = await run.case(name, throughput(few, signer, routers, clamd=clamd))
                    rows.append(row and {**row, "round": round_ + 1})
            out["throughput_runs"] = [r for r in rows if r]
            out["latency"] = [
                r
                for clamd in (False, True)
                if (r := await run.case(f"latency, clamd {'on' if clamd else 'off'}",
                                        paced(few, signer, clamd=clamd)))
            ]  # fmt: skip
            out["priority"] = await run.case("priority", priority(few, signer, clamd=True))

        async def many_cases(many: Deployment) -> None:
            out["many_topics"] = await run.case(
                f"throughput, {len(many.units)} unit topics",
                throughput(many, signer, 1, clamd=False),
            )

        async def again_cases(again: Deployment) -> None:
            """Few topics again, and Kafka's tools again: drift across the run shows in both
            pairs, and each figure is the mean of its pair."""
            out["few_topics_again"] = await run.case(
                f"throughput, {len(again.units)} unit topics again",
                throughput(again, signer, 1, clamd=False),
            )
            out["kafka_again"] = await run.case(
                "kafka perf tools again", kafka_ceiling(again, record_bytes)
            )

        setting = (base, found, pki_dir)
        await run.deployment(f"{knob('UNITS')} unit topics", *setting, knob("UNITS"), main_cases)
        await run.deployment(
            f"{knob('MANY_UNITS')} unit topics", *setting, knob("MANY_UNITS"), many_cases
        )
        await run.deployment(
            f"{knob('UNITS')} unit topics again", *setting, knob("UNITS"), again_cases
        )
    finally:
        signer.close()
        shutil.rmtree(pki_dir, ignore_errors=True)
    return out, run.failures


CASES = ((1, False), (2, False), (1, True), (2, True))
PARTS = ("router", "kafka", "postgres", "clamd", "bench", "other")
"""(routers, clamd) of the throughput cases."""


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return statistics.mean(values) if values else None


def pooled(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (routers, clamd): the mean over its rounds, and each round's rate."""
    out = []
    for routers, clamd in CASES:
        mine = [r for r in runs if r["routers"] == routers and r["clamd"] == clamd]
        if mine:
            out.append({
                "routers": routers, "clamd": clamd, "unit_topics": mine[0]["unit_topics"],
                "documents": sum(r["documents"] for r in mine),
                "per_s": _mean(mine, "per_s"), "per_s_rounds": [r["per_s"] for r in mine],
                "cpu_ms_per_document": _mean(mine, "cpu_ms_per_document"),
                "machine_busy": _mean(mine, "machine_busy"),
                "cpu_ms_per_document_by_part": {
                    part: _mean([r["cpu_ms_per_document_by_part"] for r in mine], part)
                    for part in PARTS
                },
            })  # fmt: skip
    return out


def _row(rows: Sequence[dict[str, Any]], routers: int, clamd: bool) -> dict[str, Any] | None:
    return next((r for r in rows if r["routers"] == routers and r["clamd"] == clamd), None)


def _per_s(row: dict[str, Any] | None) -> float | None:
    return float(row["per_s"]) if row and row.get("per_s") else None


def topic_scale(
    runs: Sequence[dict[str, Any]], many: dict[str, Any] | None, again: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Per-document cost at many unit topics over few: wall time per document (the
    inverse of the rate) and the router's CPU per document. Few pools the main deployment's
    1-router clamd-off rounds and the deployment made again after the many-topic one."""
    few = [r for r in runs if r["routers"] == 1 and not r["clamd"]] + ([again] if again else [])
    few_per_s, few_cpu = _mean(few, "per_s"), _mean(few, "cpu_ms_per_document")
    if not (many and many.get("per_s") and few_per_s):
        return None
    cpu_ratio = (
        many["cpu_ms_per_document"] / few_cpu if few_cpu and many["cpu_ms_per_document"] else None
    )
    return {
        "few": {
            "unit_topics": few[0]["unit_topics"], "per_s": few_per_s,
            "per_s_runs": [r["per_s"] for r in few], "ms_per_document": 1000 / few_per_s,
            "cpu_ms_per_document": few_cpu,
        },
        "many": {
            "unit_topics": many["unit_topics"], "per_s": many["per_s"],
            "ms_per_document": 1000 / many["per_s"],
            "cpu_ms_per_document": many["cpu_ms_per_document"],
        },
        "cost_ratio": few_per_s / many["per_s"],
        "cpu_cost_ratio": cpu_ratio,
        "note": "many over few: wall ms per document, and the router processes' CPU ms per "
        "document; 1 router, clamd off, documents to random units of each deployment",
    }  # fmt: skip


def summarise(
    measured: dict[str, Any], failures: dict[str, str], seconds: float, load: Sequence[float]
) -> dict[str, Any]:
    """router.json: the issue's named figures first, then every case as measured."""
    runs: list[dict[str, Any]] = measured.get("throughput_runs", [])
    rows = pooled(runs)
    tools = [c for c in (measured.get("kafka"), measured.get("kafka_again")) if c]
    producer = _mean([c["producer"] for c in tools], "records_per_s")
    consumer = _mean([c["consumer"] for c in tools], "fetch_records_per_s")
    ceiling = {
        "producer_per_s_runs": [c["producer"]["records_per_s"] for c in tools],
        "consumer_per_s_runs": [c["consumer"]["fetch_records_per_s"] for c in tools],
        "runs": tools,
    }
    one, two = _per_s(_row(rows, 1, False)), _per_s(_row(rows, 2, False))
    many = measured.get("many_topics")
    topics = topic_scale(runs, many, measured.get("few_topics_again")) or {}
    latency: list[dict[str, Any]] = measured.get("latency", [])
    prio = measured.get("priority") or {}
    behind = prio.get("behind_queue") or {}
    ratio = one / producer if one and producer else None
    budget = machine_budget([r for r in runs if r["routers"] == 1 and not r["clamd"]], producer)
    large = measured.get("large_attachment") or {"status": "failed", "peak_ratio": {}}
    targets = {
        f"ratio >= {RATIO_TARGET} (clamd off)": _met(ratio, lambda v: v >= RATIO_TARGET),
        **{
            f"p99 < 250 ms at {r['rate_per_s']:g}/s, clamd {'on' if r['clamd'] else 'off'}": _met(
                r["p99_ms"], lambda v: v < LATENCY_TARGET_MS
            )
            for r in latency
        },
        "urgent through the queue < 1 s (slowest)": _met(behind.get("max_ms"), lambda v: v < 1000),
        "cost at many topics within 10 %": _met(topics.get("cost_ratio"), lambda v: v <= 1.10),
        "100 MB attachment: every process's peak RSS < 3x": _met(
            max(large["peak_ratio"].values(), default=None), lambda v: v < 3
        ),
    }
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROUTER_SOURCE or ROOT,
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
        capture_output=True, text=True, check=False,
    ).stdout.split("\n")  # fmt: skip
    return {
        "kafka_producer_per_s": producer,
        "kafka_consumer_per_s": consumer,
        "router_per_s": {"1": one, "2": two},
        "ratio": ratio,
        "latency_p50_ms": next((r["p50_ms"] for r in latency if not r["clamd"]), None),
        "latency_p99_ms": next((r["p99_ms"] for r in latency if not r["clamd"]), None),
        "priority": prio or None,
        "topics": topics or None,
        "large_attachment_100mb": large,
        "targets": targets,
        "machine_budget": budget,
        "failures": failures,
        "meaning": (
            "One run on the secured dev broker. kafka_*_per_s: Kafka's perf tools, records of "
            "the documents' size, the mean of a run at the start and one at the end "
            "(consumer: fetch.nMsg.sec, the group join excluded, as the router's rate "
            "excludes its start). router_per_s: documents/s drained from a backlog by 1 and "
            "2 router processes, clamd off, the mean of the rounds; ratio = router_per_s['1'] "
            "/ kafka_producer_per_s. Latency: bench send to broker append on the unit topic. "
            "The machine is shared: compare figures of one run, not across runs."
        ),
        "throughput": rows,
        "latency": latency,
        "many_topics": many,
        "throughput_runs": [*runs, *[r for r in (many, measured.get("few_topics_again")) if r]],
        "kafka": ceiling,
        "document": measured.get("document"),
        "run": {
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds),
            "quick": QUICK,
            "knobs": {name: knob(name) for name in KNOBS},
            "router_source": ROUTER_SOURCE or "this checkout",
            "router_commit": head,
            "uncommitted_in_bench_checkout": [line[3:] for line in dirty if line.strip()],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs shared by the broker, "
            "PostgreSQL, clamd, the routers and the bench",
            "load_average_start": [round(x, 2) for x in load],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
    }


RATIO_TARGET = 0.35
ALONGSIDE = ("kafka", "postgres")
"""What every routed document costs besides the router, whoever routes it: the broker
taking it in and handing it on, the ledger's rows. (The bench stands for the agencies'
systems, which run elsewhere in production: left out, which favours the router.)"""


def machine_budget(runs: Sequence[dict[str, Any]], producer: float | None) -> dict[str, Any] | None:
    """What this machine leaves a router, from the 1-router, clamd-off rounds' CPU per
    document by part (the round where the rest cost least, the most generous to the
    router): the rate at which the CPUs are full with a router that cost nothing (and the
    ratio that gives), and the router CPU per document the ratio target allows."""
    if not runs or not producer:
        return None
    row = min(runs, key=lambda r: sum(r["cpu_ms_per_document_by_part"][p] for p in ALONGSIDE))
    parts = row["cpu_ms_per_document_by_part"]
    alongside = sum(parts[p] for p in ALONGSIDE)
    cpus = os.cpu_count() or 1
    free_router = cpus * 1000 / alongside if alongside > 0 else None
    target_rate = RATIO_TARGET * producer
    return {
        "cpus": cpus,
        "alongside_ms_per_document": round(alongside, 2),
        "router_ms_per_document": row["cpu_ms_per_document"],
        "per_s_with_a_router_that_cost_nothing": free_router,
        "ratio_with_a_router_that_cost_nothing": free_router / producer if free_router else None,
        "target_per_s": target_rate,
        "router_ms_per_document_the_target_allows": cpus * 1000 / target_rate - alongside,
        "meaning": (
            "The CPUs are full when (router + alongside) ms per document x documents/s = "
            "cpus x 1000. alongside = Kafka's and PostgreSQL's CPU per routed document, "
            "measured in the 1-router clamd-off round where it was least; the router's own "
            "figure is its processes' and workers' CPU in that round."
        ),
    }


def _met(value: float | None, test: Callable[[float], bool]) -> dict[str, Any]:
    return {"value": value, "met": None if value is None else bool(test(value))}


def _n(value: object, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def markdown(result: dict[str, Any]) -> str:
    run, doc, kafka = result["run"], result.get("document") or {}, result["kafka"]

    def runs(values: Sequence[float]) -> str:
        return ", ".join(_n(v) for v in values)

    lines = [
        "# The router next to Kafka's own speed",
        "",
        f"{run['when']}, {run['machine']}; {run['seconds']} s; routers from "
        f"{run['router_source']} at {run['router_commit']}"
        + (" (QUICK run)" if run["quick"] else "")
        + ".",
        f"Documents of {_n(doc.get('record_bytes'))} bytes: signed envelope, edXML subject of "
        f"{doc.get('subject_chars')} characters, an {_n(doc.get('pdf_bytes'))}-byte PDF, the "
        "default policy.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| Kafka ProducerPerformance, acks=all (records/s; start, end) "
        f"| {_n(result['kafka_producer_per_s'])} ({runs(kafka['producer_per_s_runs'])}) |",
        f"| Kafka ConsumerPerformance (records/s; start, end) "
        f"| {_n(result['kafka_consumer_per_s'])} ({runs(kafka['consumer_per_s_runs'])}) |",
        f"| router, 1 process, clamd off (documents/s) | {_n(result['router_per_s']['1'], 1)} |",
        f"| router, 2 processes, clamd off (documents/s) | {_n(result['router_per_s']['2'], 1)} |",
        f"| ratio = 1 router / Kafka producer | {_n(result['ratio'], 3)} |",
        "",
        "Throughput: a backlog drained, each case in every round (mirrored order), the mean; "
        "CPU = the router processes and their workers, per document; machine busy = the "
        "share of all CPUs in use meanwhile, by anyone.",
        "",
        "| routers | clamd | unit topics | documents | documents/s (each round) "
        "| router CPU ms/document | machine busy |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["throughput"]:
        rounds = ", ".join(_n(x, 1) for x in row["per_s_rounds"])
        lines.append(
            f"| {row['routers']} | {'on' if row['clamd'] else 'off'} | {row['unit_topics']:,} "
            f"| {row['documents']:,} | {_n(row['per_s'], 1)} ({rounds}) "
            f"| {_n(row['cpu_ms_per_document'], 1)} | {_n((row['machine_busy'] or 0) * 100)} % |"
        )
    lines += [
        "",
        "Where the CPU went, ms per document (other: whatever else ran on the machine):",
        "",
        "| routers | clamd | " + " | ".join(PARTS) + " |",
        "|---:|---|" + "---:|" * len(PARTS),
    ]
    for row in result["throughput"]:
        parts = row["cpu_ms_per_document_by_part"]
        lines.append(
            f"| {row['routers']} | {'on' if row['clamd'] else 'off'} | "
            + " | ".join(_n(parts[p], 1) for p in PARTS)
            + " |"
        )
    lines += [
        "",
        "| latency case | clamd | documents | delivered | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in result["latency"]:
        lines.append(
            f"| paced {row['rate_per_s']:g}/s | {'on' if row['clamd'] else 'off'} "
            f"| {row['documents']:,} | {row['delivered']:,} | {_n(row['p50_ms'])} "
            f"| {_n(row['p99_ms'])} |"
        )
    prio = result.get("priority") or {}
    for part, label in (
        ("idle", "urgent, idle router"),
        ("behind_queue", "urgent behind the queue"),
    ):
        row = prio.get(part)
        if row:
            lines.append(
                f"| {label} | {'on' if prio['clamd'] else 'off'} | {row['documents']:,} "
                f"| {row['delivered']:,} | {_n(row['p50_ms'])} | {_n(row['p99_ms'])} |"
            )
    if prio.get("note"):
        lines += ["", f"Priority: {prio['note']}"]
    profiled = [
        (f"paced {r['rate_per_s']:g}/s, clamd {'on' if r['clamd'] else 'off'}", r)
        for r in result["latency"]
    ] + [
        (
            f"drain, {r['routers']} router(s), clamd {'on' if r['clamd'] else 'off'}, "
            f"{r['unit_topics']:,} unit topics",
            r,
        )
        for r in result.get("throughput_runs", [])
    ]
    profiled = [(label, r["round_profile"]) for label, r in profiled if r.get("round_profile")]
    if profiled:
        lines += [
            "",
            "Where a round's wall time went, ms per round by step "
            "(lienthong_router_round_step_seconds; decide = the stages, PDFs in the workers):",
            "",
            "| case | rounds | documents/round | " + " | ".join(STEPS) + " |",
            "|---|---:|---:|" + "---:|" * len(STEPS),
        ]
        for label, profile in profiled:
            lines.append(
                f"| {label} | {profile['rounds']:,} | {_n(profile['documents_per_round'], 1)} | "
                + " | ".join(_n(profile["ms_per_round"][s], 1) for s in STEPS)
                + " |"
            )
    topics = result.get("topics")
    if topics:
        few, many = topics["few"], topics["many"]
        lines += [
            "",
            "| unit topics | documents/s (runs) | ms/document | router CPU ms/document |",
            "|---:|---:|---:|---:|",
            f"| {few['unit_topics']:,} | {_n(few['per_s'], 1)} "
            f"({', '.join(_n(x, 1) for x in few['per_s_runs'])}) "
            f"| {_n(few['ms_per_document'], 1)} | {_n(few['cpu_ms_per_document'], 1)} |",
            f"| {many['unit_topics']:,} | {_n(many['per_s'], 1)} "
            f"| {_n(many['ms_per_document'], 1)} | {_n(many['cpu_ms_per_document'], 1)} |",
            "",
            f"Per-document cost, many topics over few: {_n(topics['cost_ratio'], 2)} in wall "
            f"time, {_n(topics['cpu_cost_ratio'], 2)} in router CPU.",
        ]
    budget = result.get("machine_budget")
    if budget:
        lines += [
            "",
            f"What the machine leaves a router: besides the router, each routed document cost "
            f"{_n(budget['alongside_ms_per_document'], 2)} ms of CPU in Kafka and PostgreSQL "
            f"(the bench left out). With a router that cost nothing, {budget['cpus']} CPUs "
            f"would be full at {_n(budget['per_s_with_a_router_that_cost_nothing'])} "
            f"documents/s, a ratio of "
            f"{_n(budget['ratio_with_a_router_that_cost_nothing'], 3)}. The target's "
            f"{_n(budget['target_per_s'])} documents/s leaves the router "
            f"{_n(budget['router_ms_per_document_the_target_allows'], 2)} ms per document; "
            f"it spent {_n(budget['router_ms_per_document'], 2)}.",
        ]
    large = result["large_attachment_100mb"]
    lines += [
        "",
        f"100 MB attachment by reference: peak RSS (MiB) {_peaks(large)}; delivered "
        f"byte-identical: {large.get('delivered_byte_identical')}.",
        "",
        "| target | value | met |",
        "|---|---:|---|",
    ]
    for name, target in result["targets"].items():
        met = {True: "yes", False: "no", None: "-"}[target["met"]]
        value = target["value"]
        digits = 3 if isinstance(value, float) and value < 10 else 0
        lines.append(f"| {name} | {_n(value, digits)} | {met} |")
    if result["failures"]:
        lines += ["", "Failed cases:", ""]
        lines += [f"- {name}: {error}" for name, error in result["failures"].items()]
    return "\n".join(lines) + "\n"


def draw(result: dict[str, Any], out: Path) -> None:
    def label(row: dict[str, Any]) -> str:
        plural = "s" * (row["routers"] > 1)
        return f"{row['routers']} router{plural}\nclamd {'on' if row['clamd'] else 'off'}"

    bars = [
        Bar("Kafka\nproducer", result["kafka_producer_per_s"], "kafka"),
        Bar("Kafka\nconsumer", result["kafka_consumer_per_s"], "kafka"),
        *(Bar(label(r), r["per_s"]) for r in result["throughput"]),
    ]
    topics = result.get("topics")
    if topics:
        many = topics["many"]
        bars.append(Bar(f"1 router, off\n{many['unit_topics']:,} topics", many["per_s"]))
    prio = result.get("priority") or {}
    waited = f"none in\n{knob('URGENT_WAIT')} s"
    latencies = [
        Latency(f"paced {r['rate_per_s']:g}/s\nclamd {'on' if r['clamd'] else 'off'}",
                r["p50_ms"], r["p99_ms"], "not all\ndelivered")
        for r in result["latency"]
    ]  # fmt: skip
    queue = f"urgent behind\n{prio.get('queued', 0):,} queued"
    for part, name in (("idle", "urgent\nidle router"), ("behind_queue", queue)):
        row = prio.get(part)
        missing = "not run" if prio and row is None else waited if row else "failed"
        latencies.append(
            Latency(name, (row or {}).get("p50_ms"), (row or {}).get("p99_ms"), missing)
        )
    run = result["run"]
    plot(
        bars, latencies, out, latency_target_ms=LATENCY_TARGET_MS,
        title=f"lienthong router, {run['when']}, one run on the secured dev broker, "
        f"{os.cpu_count()} shared CPUs; routers at {run['router_commit']}",
    )  # fmt: skip


def _peaks(large: dict[str, Any]) -> str:
    return ", ".join(f"{name} {mb:.0f}" for name, mb in large.get("peak_rss_mb", {}).items())


async def large_attachment() -> dict[str, Any]:
    """The 100 MB case in a process of its own (`tests.bench.claims`): peaks of its own."""
    out = OUT / "claims.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.claims", "--mb", "100", "--out", str(out),
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    if await process.wait() != 0:
        return {"status": "failed", "peak_ratio": {}, "note": "see the bench's output"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def main() -> int:
    began, load = time.monotonic(), os.getloadavg()
    measured, failures = await measure()
    OUT.mkdir(parents=True, exist_ok=True)
    measured["large_attachment"] = await large_attachment()
    result = summarise(measured, failures, time.monotonic() - began, load)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "router.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (OUT / "router.md").write_text(markdown(result))
    draw(result, OUT / "router.png")
    if not QUICK:  # the committed plot shows a full run only
        DOC_PLOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(OUT / "router.png", DOC_PLOT)
    print(markdown(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
