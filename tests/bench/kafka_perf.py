"""Kafka's own ceiling on this broker: `org.apache.kafka.tools.ProducerPerformance` and
`ConsumerPerformance` from the kafka-tools jar the devstack fetches, run with java as the
admin principal (SASL_SSL, SCRAM, the devstack's CA), on records of the router's size.

The router is compared with these, not with a Python client of our own: a ceiling that
is itself slow would flatter the router.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path

from kernel.kafka import ClientConfig
from kernel.secrets import write_private
from kernel.settings import Settings
from lienthong.devstack.kafka import LocalKafka

HEAP = "-Xmx512m"
TIMEOUT_SECONDS = 600


@dataclasses.dataclass(frozen=True, slots=True)
class ProducerResult:
    records_per_s: float
    mb_per_s: float
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    line: str


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerResult:
    records_per_s: float
    """Over the whole run, the group join included (what `nMsg.sec` says)."""
    fetch_records_per_s: float
    """Over the fetching alone (`fetch.nMsg.sec`): the join excluded, as it is from the
    router's figure, which is timed from its first routed document."""
    mb_per_s: float
    line: str


def _java(settings: Settings) -> list[str]:
    local = LocalKafka(settings)
    return [local.java(), HEAP, "-XX:+UseG1GC", "-cp", local.classpath()]


def client_properties(admin: ClientConfig, path: Path) -> Path:
    """The Java clients' form of the admin's config (password inside: 0600)."""
    write_private(path, admin.java_properties())
    return path


async def _run(command: list[str], log: Path) -> str:
    """Run a perf tool off the event loop; its output is kept in `log` either way."""

    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )

    done = await asyncio.to_thread(call)
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{command[-1]} … exited {done.returncode}; see {log}")
    return done.stdout


async def produce(
    settings: Settings, config: Path, topic: str, records: int, size: int, log: Path
) -> ProducerResult:
    """`records` records of `size` bytes, unthrottled, acks=all."""
    out = await _run(
        [
            *_java(settings), "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(records), "--record-size", str(size),
            "--throughput", "-1", "--producer.config", str(config),
            "--producer-props", "acks=all", "max.request.size=33554432",
        ],
        log,
    )  # fmt: skip
    return parse_producer(out)


def parse_producer(out: str) -> ProducerResult:
    """The summary line: `N records sent, R records/sec (M MB/sec), A ms avg latency, X ms
    max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.`"""
    line = next(x for x in reversed(out.splitlines()) if "records sent" in x and "50th" in x)
    parts = [p.strip() for p in line.split(",")]

    def number(part: str) -> float:
        return float(part.split()[0])

    rate = parts[1]
    return ProducerResult(
        records_per_s=number(rate),
        mb_per_s=float(rate[rate.index("(") + 1 :].split()[0]),
        latency_avg_ms=number(parts[2]),
        latency_p50_ms=number(parts[4]),
        latency_p99_ms=number(parts[6]),
        line=line,
    )


async def consume(
    settings: Settings, admin: ClientConfig, config: Path, topic: str, records: int, log: Path
) -> ConsumerResult:
    """Read `records` records from the start of `topic`, in a group of its own."""
    out = await _run(
        [
            *_java(settings), "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server", admin.bootstrap, "--consumer.config", str(config),
            "--topic", topic, "--messages", str(records), "--group", f"{topic}.perf",
            "--timeout", "30000",
        ],
        log,
    )  # fmt: skip
    return parse_consumer(out)


def parse_consumer(out: str) -> ConsumerResult:
    """The CSV header and the one row after it."""
    lines = [x for x in out.splitlines() if x.strip()]
    head = next(i for i, x in enumerate(lines) if x.startswith("start.time"))
    names = [n.strip() for n in lines[head].split(",")]
    row = dict(zip(names, (v.strip() for v in lines[head + 1].split(",")), strict=True))
    return ConsumerResult(
        records_per_s=float(row["nMsg.sec"]),
        fetch_records_per_s=float(row["fetch.nMsg.sec"]),
        mb_per_s=float(row["MB.sec"]),
        line=lines[head + 1],
    )
