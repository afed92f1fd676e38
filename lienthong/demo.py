"""The main job, run by `make demo`: a local four-level exchange on real Kafka, PostgreSQL
and ClamAV.

It checks the stack with a smoke round trip, writes a TEST PKI, loads the Bến Tre directory,
creates the topics, runs a router and a connector for the demo units in this process, sends
documents down and up the levels (one with a PDF signed by the province's organisation
certificate; one to a district closed by the 2025 merger, redirected; one with a forged
signature and one carrying the EICAR test file, both refused), prints the receipts as they
arrive, and ends with the ledger as a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import uuid
from collections.abc import Mapping, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from broker import provisioning
from broker.directory import Unit, loader, store
from broker.service import Router
from connectors import packing
from connectors.service import Connector
from kernel import database, kafka
from kernel.errors import KafkaUnavailable, ServiceFailed
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack import stack
from lienthong.devstack.clamd import eicar
from lienthong.devstack.stack import Endpoints
from lienthong.samples import minimal_pdf
from schemas import edxml
from schemas.edxml import model as m
from signing import pdf
from signing.identity import Identity
from signing.testpki import TestPki, write_pki

SMOKE_TOPIC = "lienthong.demo.smoke"
CENTRAL, PROVINCE, DEPARTMENT = "000.00.00.G22", "000.00.00.H62", "000.00.02.H62"
COMMUNE_A, COMMUNE_B, CLOSED_DISTRICT = "000.02.00.H62", "000.03.00.H62", "000.00.31.H07"
UNITS = (CENTRAL, PROVINCE, DEPARTMENT, COMMUNE_A, COMMUNE_B)
log = structlog.get_logger(__name__)


async def kafka_round_trip(admin: ClientConfig, topic: str, payload: bytes) -> bytes:
    """Produce `payload` and consume it back from the exact offset it was written at."""
    await kafka.ensure_topics(admin, [kafka.TopicSpec(topic)])
    producer = AIOKafkaProducer(**admin.aiokafka(), acks="all", enable_idempotence=True)
    with kafka.mapped_errors("producing the smoke message failed"):
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, payload, key=b"smoke")
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer(**admin.aiokafka(), enable_auto_commit=False)
    with kafka.mapped_errors("consuming the smoke message failed"):
        await consumer.start()
        try:
            partition = TopicPartition(topic, sent.partition)
            consumer.assign([partition])
            consumer.seek(partition, sent.offset)
            batch = await consumer.getmany(partition, timeout_ms=10_000, max_records=1)
        finally:
            await consumer.stop()
    records = batch.get(partition, [])
    if not records:
        raise KafkaUnavailable(
            f"the message written at {topic}@{sent.offset} could not be read back"
        )
    value: bytes = records[0].value
    return value


async def database_round_trip(dsn: str, subject: str, detail: dict[str, str]) -> dict[str, str]:
    conn = await database.connect(dsn)
    try:
        row_id = await conn.fetchval(
            "INSERT INTO audit (actor, action, subject, detail)"
            " VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
            "demo",
            "smoke",
            subject,
            json.dumps(detail),
        )
        stored = await conn.fetchval("SELECT detail::text FROM audit WHERE id = $1", row_id)
    finally:
        await conn.close()
    result: dict[str, str] = json.loads(stored)
    return result


async def _connector_role(found: Endpoints, owner: database.Connection) -> str:
    """The demo's connector deployment role, hosting the demo's units (made by the local
    cluster's bootstrap superuser, as `lienthong db connector-role demo` would)."""
    if found.database_roles_dir is None:
        raise ServiceFailed("the database roles are not set up", hint="run `lienthong dev up`")
    admin = await database.connect(found.database_url.reveal())
    try:
        dsn = await dbroles.create_connector_role(
            admin, owner, "demo", UNITS, base=found.database_url.reveal(),
            directory=found.database_roles_dir,
        )  # fmt: skip
    finally:
        await admin.close()
    return dsn.reveal()


async def smoke(found: Endpoints) -> None:
    message_id = str(uuid.uuid4())
    payload = json.dumps({"message_id": message_id, "text": "Xin chào liên thông"}).encode()
    if await kafka_round_trip(found.kafka, SMOKE_TOPIC, payload) != payload:
        raise ServiceFailed("the smoke message came back changed")
    detail = {"message_id": message_id, "topic": SMOKE_TOPIC}
    owner = found.owner_database_url or found.database_url
    if await database_round_trip(owner.reveal(), message_id, detail) != detail:
        raise ServiceFailed("the smoke row came back changed")


def document(
    sender: str,
    to: Sequence[str],
    name: str,
    number: int,
    notation: str,
    subject: str,
    type_name: str,
) -> bytes:
    today = datetime.date.today()
    packet = m.DocumentPacket(
        from_=m.Organization(organ_id=sender, organ_name=name),
        to=tuple(m.Organization(organ_id=unit) for unit in to),
        document_id=f"{sender},{today:%Y/%m/%d},{number}/{notation}",
        code=m.Code(str(number), notation),
        promulgation_info=m.PromulgationInfo("Vĩnh Long", today),
        document_type=m.DocumentType(type=1, type_name=type_name),
        subject=subject,
        signer_info=m.SignerInfo(competence="TM. ỦY BAN NHÂN DÂN", full_name="Nguyễn Văn An"),
        other_info=m.OtherInfo(priority=0),
        business=m.Business(business_doc_type=0, business_doc_reason="Văn bản điện tử mới"),
    )
    return edxml.write(packet)


async def run(settings: Settings, found: Endpoints) -> None:
    await smoke(found)
    print(f"· Kafka at {found.kafka_bootstrap} ({found.kafka.protocol}) and PostgreSQL answer")
    owner_dsn = (found.owner_database_url or found.database_url).reveal()
    directory = loader.load(SAMPLE_DIRECTORY)
    if not (settings.keys_dir / "router" / "key.pem").exists():
        write_pki(
            settings.keys_dir,
            [(u, directory.units[u].name) for u in UNITS],
            router_id=settings.router_id,
        )
    print(f"· TEST PKI in {settings.keys_dir}")
    conn = await database.connect(owner_dsn, schema=settings.database_schema)
    try:
        await store.save(conn, directory)
        connector_dsn = await _connector_role(found, conn)
    finally:
        await conn.close()
    router_dsn = stack.service_dsn(settings, dbroles.ROUTER).reveal()
    reporting_dsn = stack.service_dsn(settings, dbroles.REPORTING).reveal()
    print(
        "· PostgreSQL roles: the router, the demo's connector deployment (its units' registers "
        "only, by row-level security) and reporting; no superuser at run time"
    )
    topics = Topics(settings.topic_prefix, settings.max_message_bytes)
    await kafka.ensure_topics(
        found.kafka,
        topics.specs(sorted(directory.units), submit_partitions=settings.submit_partitions),
    )
    today = datetime.date.today()
    await provisioning.sync(found.kafka, topics, directory, today=today)
    router_config = await provisioning.router_client(
        settings, found.kafka, topics, settings.router_name
    )
    unit_configs = {
        unit: await provisioning.unit_client(
            settings, found.kafka, topics, directory, unit, today=today
        )
        for unit in UNITS
    }
    print(
        f"· directory of {len(directory.units)} units loaded; topics ready; each unit and "
        f"the router a Kafka principal of its own, ACLs from the directory"
    )
    stop = asyncio.Event()
    router = Router(settings, kafka_config=router_config, dsn=router_dsn, reload_seconds=1)
    connector = Connector(settings, UNITS, kafka_configs=unit_configs, dsn=connector_dsn)
    async with router, connector:
        tasks = [asyncio.create_task(router.run(stop)), asyncio.create_task(connector.run(stop))]
        try:
            sent = await _exchange(connector, directory.units, settings)
            forged = await _forged(connector, settings)
            sent[forged] = "văn bản giả mạo"
            expected = 8
            if found.clamd:
                sent[await _infected(connector)] = "tệp đính kèm có mã độc"
                expected += 1
            else:
                print("· no malware scanner (LIENTHONG_CLAMD=none): attachments are not scanned")
            await _watch(settings, reporting_dsn, sent, connector, expected)
            await _forgery_outcome(settings, reporting_dsn, forged)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks)
    await _summary(settings, reporting_dsn, sent)


async def _forgery_outcome(settings: Settings, dsn: str, forged: str) -> None:
    """The router refused the forgery and told nobody: no one proved they had sent it."""
    conn = await database.connect(dsn, schema=settings.database_schema)
    try:
        for _ in range(300):
            refused = await conn.fetchval(
                "SELECT reason_code FROM dead_letters WHERE message_id = $1", forged
            )
            if refused:
                print(
                    f"← the forged envelope was refused ({refused}) and dead-lettered; no 02 "
                    "went out about it, since nobody proved they had sent it"
                )
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise ServiceFailed("the forged envelope's refusal did not show within 60 seconds")


async def _exchange(
    connector: Connector, units: Mapping[str, Unit], settings: Settings
) -> dict[str, str]:
    name = {u: units[u].name for u in (*UNITS, CLOSED_DISTRICT)}
    # Down from the centre to the province, on to a department and a commune, up from a
    # commune, and to a district that closed on 2025-06-30 (its successor receives it).
    # The province's letter carries its PDF signed by the clerk with the organisation's
    # certificate (Article 10), checked by the router's policy stage.
    clerk = Identity.load(settings.keys_dir / "units" / PROVINCE, PROVINCE)
    signed = packing.attachment_of(
        "125-UBND-VP.pdf", "application/pdf",
        await pdf.sign_pdf(minimal_pdf("Cong van 125/UBND-VP"), clerk.key, clerk.chain),
    )  # fmt: skip
    plan = [
        (CENTRAL, [PROVINCE], 15, "TTg-VP",
         "Về đẩy mạnh liên thông văn bản điện tử 4 cấp", "Chỉ thị", []),
        (PROVINCE, [DEPARTMENT, COMMUNE_A], 125, "UBND-VP",
         "V/v triển khai chỉ thị về văn bản điện tử", "Công văn", [signed]),
        (COMMUNE_B, [PROVINCE], 42, "BC-UBND",
         "Báo cáo kết quả tiếp nhận văn bản điện tử quý IV", "Báo cáo", []),
        (PROVINCE, [CLOSED_DISTRICT], 126, "UBND-VP",
         "V/v bàn giao hồ sơ huyện Châu Thành cũ", "Công văn", []),
    ]  # fmt: skip
    sent: dict[str, str] = {}
    for sender, to, number, notation, subject, kind, files in plan:
        packet = document(sender, to, name[sender], number, notation, subject, kind)
        body, registered = await connector.send(sender, packet, to, files)
        sent[body.message_id] = subject
        receivers = ", ".join(name[t] for t in to)
        print(f"→ {name[sender]} sent số {registered} “{subject}” to {receivers}")
    return sent


async def _forged(connector: Connector, settings: Settings) -> str:
    """Somebody signs in the department's name with a certificate no Government CA issued."""
    stranger = TestPki().unit(DEPARTMENT)
    forged = Identity(DEPARTMENT, stranger.key, stranger.chain)
    body = packing.build_body(
        document(DEPARTMENT, [PROVINCE], "?", 999, "GIA-MAO", "Văn bản giả mạo chữ ký", "Công văn"),
        sender=DEPARTMENT,
        recipients=[PROVINCE],
    )
    headers, value = forged.seal(connector.registry, body)
    await connector.producer(DEPARTMENT).send_and_wait(
        Topics(settings.topic_prefix).submit, value, key=DEPARTMENT.encode(), headers=headers
    )
    print("→ a forged envelope claiming to be from Sở Nội vụ was published")
    return body.message_id


async def _infected(connector: Connector) -> str:
    """A commune's report whose attachment carries the EICAR anti-virus test file."""
    packet = document(
        COMMUNE_A, [PROVINCE], "?", 43, "BC-UBND", "Báo cáo kèm tệp nhiễm mã độc", "Báo cáo"
    )
    attachment = packing.attachment_of("bao-cao.txt", "text/plain", b"Bao cao\n" + eicar())
    body, _ = await connector.send(COMMUNE_A, packet, [PROVINCE], [attachment])
    print("→ a commune sent a report whose attachment carries the EICAR test file")
    return body.message_id


async def _watch(
    settings: Settings, dsn: str, sent: dict[str, str], connector: Connector, expected: int
) -> None:
    """Print receipts and notices as the senders' connectors record them; the province's
    clerk accepts (03) and finishes (06) the commune's report once it has arrived."""
    report = next(m for m, subject in sent.items() if subject.startswith("Báo cáo"))
    conn = await database.connect(dsn, schema=settings.database_schema)
    seen: set[str] = set()
    answered = False
    # 5 receipts (01), 1 redirect notice (00), then 03 and 06;
    # and the infected report's 02 when a scanner runs.
    try:
        for _ in range(300):
            rows = await conn.fetch(
                "SELECT s.status_message_id, s.message_id, s.recipient, s.status_code,"
                " s.reason_code FROM outgoing_status s WHERE s.message_id = ANY($1::text[])"
                " ORDER BY s.at",
                list(sent),
            )
            for row in rows:
                if row["status_message_id"] in seen:
                    continue
                seen.add(row["status_message_id"])
                about = sent[row["message_id"]]
                reason = f" ({row['reason_code']})" if row["reason_code"] else ""
                print(f"← {row['status_code']} from {row['recipient']} about “{about}”{reason}")
                if row["message_id"] == report and row["status_code"] == "01" and not answered:
                    for code in ("03", "06"):
                        await connector.post_status(PROVINCE, report, code)
                    answered = True
                    print("· the province's clerk registered the report (03) and closed it (06)")
            if len(seen) >= expected:
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise ServiceFailed("the demo's receipts did not all arrive within 60 seconds")


async def _summary(settings: Settings, dsn: str, sent: dict[str, str]) -> None:
    conn = await database.connect(dsn, schema=settings.database_schema)
    try:
        rows = await conn.fetch(
            "SELECT m.message_id, m.sender, m.verdict, m.reason_code, d.recipient, d.delivered_to,"
            " d.state FROM messages m LEFT JOIN deliveries d USING (message_id)"
            " WHERE m.message_id = ANY($1::text[]) ORDER BY m.received_at, d.recipient",
            list(sent),
        )
    finally:
        await conn.close()
    print()
    print(
        f"{'message':<10} {'sender':<14} {'recipient':<14} {'delivered to':<14} {'state':<9} reason"
    )
    for row in rows:
        print(
            f"{row['message_id'][:8]:<10} {row['sender']:<14} {row['recipient'] or '-':<14} "
            f"{row['delivered_to'] or '-':<14} {row['state'] or row['verdict']:<9} "
            f"{row['reason_code'] or ''}"
        )
