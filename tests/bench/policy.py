"""The policy stage's cost: router throughput with and without it, in the same run, for
documents each carrying a signed 1 MiB PDF (a scanned page), and where the time goes.

Cases, each on fresh topics and a fresh schema, the router in this process on the real
Kafka, PostgreSQL and clamd: without the policy stage (the stage replaced by a pass), with
it but no scanner, with it and clamd. Cases alternate over ROUNDS so drift on this shared
machine hits them alike. Then each part of the stage is timed alone on the same PDF.
`make bench` writes bench-results/policy.{json,md}.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from broker import provisioning
from broker.directory import Directory, Unit, store
from broker.policy import attachments, malware, rules
from broker.policy.check import pdf_text
from broker.policy.rules import Decision
from broker.service import Router
from broker.stages import Refusal
from broker.stages.address import Addressed
from broker.stages.policy import Screened
from connectors import packing
from kernel import database, kafka, logs
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack import stack
from lienthong.samples import minimal_pdf
from schemas import codec
from schemas.edxml import Packet
from signing import pdf
from signing.certificates import TrustStore
from signing.identity import Identity
from signing.testpki import write_pki
from tests.bench.router import publish, routed_count

OUT = Path(os.environ.get("LIENTHONG_BENCH_DIR", "bench-results"))
DOCUMENTS = int(os.environ.get("LIENTHONG_BENCH_POLICY_DOCUMENTS", "120"))
ROUNDS = int(os.environ.get("LIENTHONG_BENCH_POLICY_ROUNDS", "2"))
SENDERS = [f"000.00.{i:02d}.H98" for i in range(1, 6)]
UNITS = [f"000.{i:02d}.00.H99" for i in range(1, 11)]
CASES = ("without policy stage", "policy, no scanner", "policy + clamd")


class RouterWithoutPolicy(Router):
    async def screen(
        self, addressed: Addressed, packet: Packet | None, *, released: bool
    ) -> Screened | Refusal:
        return Screened(addressed, Decision("pass", ()))


async def _records(
    pki_dir: Path, registry: codec.Registry
) -> list[tuple[bytes, bytes, codec.Headers]]:
    out = []
    for index in range(DOCUMENTS):
        sender = SENDERS[index % len(SENDERS)]
        identity = Identity.load(pki_dir / "units" / sender, sender)
        scan = minimal_pdf(f"Quyet dinh so {index}", scan_side=1024)
        signed = await pdf.sign_pdf(scan, identity.key, identity.chain)
        body = packing.build_body(
            packing.edxml_from_fields(
                sender,
                {"subject": f"Quyết định số {index}", "type_name": "Quyết định"},
                [UNITS[index % len(UNITS)]],
            ),
            sender=sender,
            recipients=[UNITS[index % len(UNITS)]],
            attachments=[packing.attachment_of("quyet-dinh.pdf", "application/pdf", signed)],
        )
        headers, value = identity.seal(registry, body)
        out.append((sender.encode(), value, headers))
    return out


async def _case(
    name: str,
    base: Settings,
    found: stack.Endpoints,
    pki_dir: Path,
    records: list[tuple[bytes, bytes, codec.Headers]],
) -> float:
    tag = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        base,
        topic_prefix=f"p{tag}.",
        database_schema=f"p_{tag}",
        pki_dir=pki_dir,
        trust_dir=None,
        kafka_clients=pki_dir / "kafka-clients",
        clamd=found.clamd if name == "policy + clamd" else "none",
    )
    dsn = found.database_url.reveal()
    topics = Topics(settings.topic_prefix, settings.max_message_bytes)
    admin = await database.connect(dsn)
    await database.migrate(admin, schema=settings.database_schema)
    conn = await database.connect(dsn, schema=settings.database_schema)
    await store.save(conn, Directory([
        *(Unit(u, f"Bench sender {u}", "province") for u in SENDERS),
        *(Unit(u, u, "commune") for u in UNITS),
    ]))  # fmt: skip
    await conn.close()
    specs = topics.specs([*SENDERS, *UNITS], submit_partitions=6)
    await kafka.ensure_topics(found.kafka, specs)
    producer = AIOKafkaProducer(
        **found.kafka.aiokafka(), acks="all", max_request_size=32 * 1024 * 1024
    )
    kind = RouterWithoutPolicy if name == CASES[0] else Router
    config = await provisioning.router_client(settings, found.kafka, topics, settings.router_name)
    router = kind(settings, kafka_config=config, dsn=dsn)
    stop = asyncio.Event()
    try:
        await producer.start()
        await publish(producer, topics.submit, records, None)
        await router.start()
        task = asyncio.create_task(router.run(stop))
        started = None
        while (done := await routed_count(dsn, settings.database_schema)) < len(records):
            if task.done():
                task.result()
            if done and started is None:
                started = (time.monotonic(), done)
            await asyncio.sleep(0.05)
        assert started is not None
        return (len(records) - started[1]) / (time.monotonic() - started[0])
    finally:
        stop.set()
        await router.stop()
        await producer.stop()
        await kafka.delete_topics(found.kafka, [s.name for s in specs])
        await provisioning.remove_deployment(found.kafka, topics)
        await admin.execute(f'DROP SCHEMA "{settings.database_schema}" CASCADE')
        await admin.close()


async def _ms_per_call(action: Callable[[], Awaitable[object]], calls: int = 10) -> float:
    await action()
    start = time.perf_counter()
    for _ in range(calls):
        await action()
    return (time.perf_counter() - start) / calls * 1000


async def _parts(pki_dir: Path, found: stack.Endpoints) -> dict[str, float]:
    """Each piece of the policy stage alone, on one signed 1 MiB PDF, in ms per call."""
    sender = SENDERS[0]
    identity = Identity.load(pki_dir / "units" / sender, sender)
    signed = await pdf.sign_pdf(minimal_pdf("Quyet dinh", scan_side=1024), identity.key,
                                identity.chain)  # fmt: skip
    ref = packing.attachment_of("quyet-dinh.pdf", "application/pdf", signed)
    trust = TrustStore.load(pki_dir / "trust")
    policy = rules.load()
    text = pdf_text(signed) or ""

    async def check() -> None:
        attachments.check([ref])

    async def extract() -> None:
        pdf_text(signed)

    async def evaluate() -> None:
        policy.evaluate({"attachment_text": [text]})

    async def signatures() -> None:
        await pdf.validate_pdf(signed, trust=trust, sender=sender)

    parts = {
        "attachment checks (size, SHA-256, PDF structure)": await _ms_per_call(check),
        "PDF text layer (pypdf)": await _ms_per_call(extract),
        "Article 3/4/5.3 rules over the text": await _ms_per_call(evaluate),
        "PAdES validation (pyhanko, CRLs)": await _ms_per_call(signatures),
    }
    if found.clamd:
        scanner = malware.Clamd(found.clamd)
        parts["clamd INSTREAM scan"] = await _ms_per_call(
            lambda: scanner.scan("quyet-dinh.pdf", signed)
        )
    return parts


async def main() -> None:
    base = Settings.from_env()
    logs.configure(dataclasses.replace(base, log_level="WARNING"))
    found, _ = await stack.up(base)
    pki_dir = base.state_dir / "bench" / f"policy-{uuid.uuid4().hex[:8]}"
    write_pki(pki_dir, [(u, f"Bench sender {u}") for u in SENDERS], router_id=base.router_id)
    records = await _records(pki_dir, codec.Registry.load())
    size = statistics.mean(len(value) for _, value, _ in records)
    rates: dict[str, list[float]] = {name: [] for name in CASES}
    for _round in range(ROUNDS):
        for name in CASES:
            rates[name].append(await _case(name, base, found, pki_dir, records))
    parts = await _parts(pki_dir, found)
    best = {name: max(values) for name, values in rates.items()}
    without = best[CASES[0]]
    meta = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "documents": DOCUMENTS, "rounds": ROUNDS, "envelope_bytes": round(size),
        "cpus": os.cpu_count(), "scanner": found.clamd,
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "policy.json").write_text(
        json.dumps({**meta, "per_s": rates, "parts_ms": parts}, indent=2) + "\n"
    )
    lines = [
        "# The policy stage's cost",
        "",
        f"{meta['when']}, {os.cpu_count()} cpu; {DOCUMENTS} documents, each an envelope of "
        f"{size / 2**20:.2f} MiB carrying a signed 1 MiB PDF (a scanned page); one router in "
        f"process on the real Kafka, PostgreSQL and clamd; best of {ROUNDS} alternating rounds.",
        "",
        "| case | documents/s (each round) | best | vs. without |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {', '.join(f'{r:.1f}' for r in rates[name])} | {best[name]:.1f} "
            f"| {best[name] / without:.2f} |"
            for name in CASES
        ),
        "",
        "Where the time goes, each part alone on the same PDF (ms per call):",
        "",
        "| part | ms |",
        "|---|---:|",
        *(f"| {part} | {ms:.1f} |" for part, ms in parts.items()),
    ]
    (OUT / "policy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
