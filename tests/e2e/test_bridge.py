"""The bridge: one lienthong exchange (A, a province) reaches another (B, standing for the
national axis) only through B's /vxp API, as a province's LGSP reaches VDXP.

A's directory marks B's units as remote, behind the gateway; A's router routes to their
topics unchanged, and the bridge (`lienthong vxp bridge run`, as the gateway's Kafka
principal and database role) carries documents and statuses across and back. B knows A's
bridge as one agency system whose units (A's, hosted by B's connector as any system's are)
it may act for. Everything is real on both sides: two schemas, two topic prefixes, two
PKIs, B's connector API over a socket; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from broker import provisioning
from broker.directory import Directory
from connectors import api, packing
from connectors.vxp import bridge_store, systems
from connectors.vxp.bridge import Bridge, message_id
from connectors.vxp.client import AxisClient
from kernel import database
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from schemas.envelope import status_id
from signing.identity import Identity
from signing.testpki import write_gateway
from tests.e2e.conftest import (
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    PROVINCE,
    Exchange,
    running_exchange,
)
from tests.e2e.gateways import behind, document, gateway_role, produce
from tests.unit.test_xmldsig import sign

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LOCAL = (COMMUNE_A, COMMUNE_B)
"""A's own units; DEPARTMENT and PROVINCE are B's, behind A's gateway."""
MINISTRY = "000.00.00.G12"
"""Behind another gateway of A's (`<gateway>n`), which nothing here runs."""


@dataclasses.dataclass
class World:
    a: Exchange
    b: Exchange
    gateway: str
    endpoint: str
    system_id: str
    secret: str
    kafka: ClientConfig
    dsn: str

    def bridge(
        self,
        *,
        poll_seconds: float = 0.3,
        system: tuple[str, str] | None = None,
        trust: Path | None = None,
    ) -> Bridge:
        """The bridge, as B's system for it (or another `system`: its id and secret), with
        A's trust store (or the folder `trust`)."""
        system_id, secret = system or (self.system_id, self.secret)
        client = AxisClient(self.endpoint, system_id, secret, timeout=20)
        settings = dataclasses.replace(
            self.a.settings, trust_dir=trust or self.a.settings.trust_dir
        )
        return Bridge(
            settings, self.gateway, client, kafka_config=self.kafka, dsn=self.dsn,
            poll_seconds=poll_seconds,
        )  # fmt: skip

    async def until(
        self, query: str, *args: Any, on: Exchange, what: str, timeout: float = 60
    ) -> list[dict[str, Any]]:
        async def probe() -> list[dict[str, Any]]:
            return await on.fetch(query, *args)

        return await on.until(probe, timeout=timeout, what=what)


def a_directory(gateway: str) -> Directory:
    """The sample directory as province A sees it: B's units behind the gateway, the
    ministry behind another."""
    return behind({DEPARTMENT: gateway, PROVINCE: gateway, MINISTRY: f"{gateway}n"})


@pytest.fixture(scope="module")
async def world(
    settings: Settings, services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    gateway = f"g{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("bridge")
    directory = a_directory(gateway)
    async with (
        running_exchange(settings, services, tmp / "b") as b,
        api.serving(b.connector, "127.0.0.1", 0) as port,
        running_exchange(settings, services, tmp / "a", directory=directory, hosted=LOCAL) as a,
        gateway_role(services, gateway) as dsn,
    ):
        # A's gateway: its certificate names DEPARTMENT only (so PROVINCE's mail is refused),
        # its Kafka principal, its database role.
        write_gateway(a.pki, a.pki_dir, gateway, [DEPARTMENT])
        config = await provisioning.gateway_client(
            a.settings, services.kafka, a.topics, directory, gateway
        )
        # B knows A's bridge as one system, acting for COMMUNE_A (not COMMUNE_B).
        made, secret = await b_system(b, [COMMUNE_A], f"lienthong.{gateway}")
        yield World(
            a, b, gateway, f"http://127.0.0.1:{port}/vxp", made, secret, config, dsn
        )  # fmt: skip


async def b_system(b: Exchange, units: Sequence[str], system_id: str) -> tuple[str, str]:
    """An agency system at B acting for these units: its id and secret."""
    conn = await database.connect(b.dsn, schema=b.settings.database_schema)
    try:
        key = systems.ensure_key(systems.key_path(b.settings))
        made, secret = await systems.create(
            conn, key, units, system_id=system_id, name="province A", actor="pytest"
        )
    finally:
        await conn.close()
    return made.id, secret


@contextlib.asynccontextmanager
async def bridging(world: World) -> AsyncIterator[Bridge]:
    async with world.bridge() as bridge:
        stop = asyncio.Event()
        task = asyncio.create_task(bridge.run(stop))
        try:
            yield bridge
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def statuses(on: Exchange, unit: str, document_id: str) -> dict[str, str]:
    """What `unit` heard about the documents it sent under this id: code -> description."""
    rows = await on.fetch(
        "SELECT s.status_code, s.description, s.recipient FROM outgoing_status s"
        " JOIN outgoing_register r ON r.unit = s.unit AND r.message_id = s.message_id"
        " WHERE s.unit = $1 AND r.document_id = $2",
        unit,
        document_id,
    )
    return {row["status_code"]: row["description"] or "" for row in rows}


# A document and its statuses, across and back ------------------------------------------------


async def test_a_document_goes_across_and_its_statuses_come_back(world: World) -> None:
    a, b = world.a, world.b
    async with bridging(world):
        packet, document_id = document(COMMUNE_A, DEPARTMENT)
        sent, _ = await a.connector.send(COMMUNE_A, packet, [DEPARTMENT])

        [there] = await world.until(
            "SELECT * FROM incoming_register WHERE unit = $1 AND document_id = $2",
            DEPARTMENT, document_id, on=b, what="the document at B's department",
        )  # fmt: skip
        assert bytes(there["edxml"]) == packet  # byte for byte, as A's unit wrote it
        assert there["sender"] == COMMUNE_A

        async def heard(code: str) -> dict[str, str]:
            said = await statuses(a, COMMUNE_A, document_id)
            return said if code in said else {}

        await a.until(lambda: heard("01"), timeout=60, what="01 from B's department at A")
        await b.connector.post_status(DEPARTMENT, there["message_id"], "03", "Văn thư đã nhận")
        said = await a.until(lambda: heard("03"), timeout=60, what="03 at A")
        assert said["03"] == "Văn thư đã nhận"
        rows = await a.fetch(
            "SELECT recipient FROM outgoing_status WHERE message_id = $1", sent.message_id
        )
        assert {r["recipient"] for r in rows} == {DEPARTMENT}

        # And back: B's department writes to A's commune, which answers.
        packet, document_id = document(DEPARTMENT, COMMUNE_A, "V/v báo cáo")
        await b.connector.send(DEPARTMENT, packet, [COMMUNE_A])
        [here] = await world.until(
            "SELECT * FROM incoming_register WHERE unit = $1 AND document_id = $2",
            COMMUNE_A, document_id, on=a, what="B's document at A's commune",
        )  # fmt: skip
        assert bytes(here["edxml"]) == packet
        assert here["sender"] == DEPARTMENT
        assert here["message_id"] != there["message_id"]
        await a.connector.post_status(COMMUNE_A, here["message_id"], "03", "Đã tiếp nhận")

        async def answered() -> dict[str, str]:
            said = await statuses(b, DEPARTMENT, document_id)
            return said if "03" in said else {}

        said = await b.until(answered, timeout=60, what="A's 03 at B's department")
        assert said["03"] == "Đã tiếp nhận"

    [taken] = await a.fetch(
        "SELECT * FROM gateway_inbound WHERE kind = 'edoc' AND document_id = $1", document_id
    )
    assert taken["message_id"] == here["message_id"]
    assert (taken["xmldsig"], taken["refused_reason"]) == ("absent", None)
    assert taken["acknowledged_at"] is not None
    acknowledged = await b.fetch(
        "SELECT state FROM vxp_acknowledgements WHERE unit = $1 AND message_id = $2",
        COMMUNE_A, taken["remote_id"],
    )  # fmt: skip
    assert [r["state"] for r in acknowledged] == ["done"]


async def test_an_xml_signature_from_the_other_side_is_checked_and_recorded(
    world: World,
) -> None:
    """B's department signs its edXML (XML-DSig) with a certificate A's trust store knows;
    the document arrives as signed, and the bridge records that the signature holds."""
    a, b = world.a, world.b
    packet, document_id = document(DEPARTMENT, COMMUNE_A, "V/v văn bản ký số")
    signed = sign(packet, a.pki.unit(DEPARTMENT, "Sở Nội vụ"))
    async with bridging(world):
        await b.connector.send(DEPARTMENT, signed, [COMMUNE_A])
        [here] = await world.until(
            "SELECT * FROM incoming_register WHERE unit = $1 AND document_id = $2",
            COMMUNE_A, document_id, on=a, what="the signed document at A",
        )  # fmt: skip
    assert bytes(here["edxml"]) == signed
    [taken] = await a.fetch(
        "SELECT xmldsig, xmldsig_detail FROM gateway_inbound WHERE document_id = $1", document_id
    )
    assert taken["xmldsig"] == "valid", taken["xmldsig_detail"]


async def test_a_document_for_two_units_reaches_the_one_a_later_poll_lists(
    world: World,
) -> None:
    """B lists a document once per addressed unit, under one docId, and a poll may list it
    for one unit before the other (here: a system acting for COMMUNE_A only, then one for
    both): the entry for the unit listed later is taken too, as a document of its own."""
    a, b = world.a, world.b
    both = await b_system(b, [COMMUNE_A, COMMUNE_B], f"lienthong.{world.gateway}.both")
    packet, document_id = document(DEPARTMENT, COMMUNE_A, "V/v gửi hai xã", also=[COMMUNE_B])
    await b.connector.send(DEPARTMENT, packet, [COMMUNE_A, COMMUNE_B])
    await world.until(
        "SELECT count(*) FROM incoming_register WHERE document_id = $1 HAVING count(*) = 2",
        document_id, on=b, what="the document at B for both units",
    )  # fmt: skip
    async with world.bridge() as bridge:
        await bridge.poll_once()
    async with world.bridge(system=both) as bridge:
        await bridge.poll_once()
    rows = await world.until(
        "SELECT unit FROM incoming_register WHERE document_id = $1 AND unit = $2",
        document_id, COMMUNE_B, on=a, what="the document at A's COMMUNE_B",
    )  # fmt: skip
    await asyncio.sleep(2)  # room for a second copy, were there one
    rows = await a.fetch(
        "SELECT unit FROM incoming_register WHERE document_id = $1 ORDER BY unit", document_id
    )
    assert [r["unit"] for r in rows] == sorted([COMMUNE_A, COMMUNE_B])
    taken = await a.fetch(
        "SELECT recipient, message_id FROM gateway_inbound WHERE document_id = $1", document_id
    )
    assert len({t["message_id"] for t in taken}) == 2


async def test_the_bridge_reads_a_changed_trust_store_without_a_restart(
    world: World, tmp_path: Path
) -> None:
    """The bridge starts with a trust store that does not know A's CA, which is then added
    (as an operator adds a CA): the next document's XML-DSig signature is judged with it."""
    a, b = world.a, world.b
    trust = tmp_path / "trust"
    trust.mkdir()
    signer = a.pki.unit(DEPARTMENT, "Sở Nội vụ")
    before, before_id = document(DEPARTMENT, COMMUNE_A, "V/v trước khi tin cậy")
    after, after_id = document(DEPARTMENT, COMMUNE_A, "V/v sau khi tin cậy")

    async def at_b(document_id: str) -> None:
        await world.until(
            "SELECT 1 FROM incoming_register WHERE unit = $1 AND document_id = $2",
            COMMUNE_A, document_id, on=b, what="the document at B",
        )  # fmt: skip

    async with world.bridge(trust=trust) as bridge:
        await b.connector.send(DEPARTMENT, sign(before, signer), [COMMUNE_A])
        await at_b(before_id)
        await bridge.poll_once()
        for path in a.settings.trust_store_dir.iterdir():
            shutil.copy(path, trust / path.name)
        await b.connector.send(DEPARTMENT, sign(after, signer), [COMMUNE_A])
        await at_b(after_id)
        await bridge.poll_once()
    rows = await a.fetch(
        "SELECT document_id, xmldsig FROM gateway_inbound WHERE document_id = ANY($1::text[])",
        [before_id, after_id],
    )
    assert {r["document_id"]: r["xmldsig"] for r in rows} == {
        before_id: "untrusted", after_id: "valid",
    }  # fmt: skip


# What either side refuses -----------------------------------------------------------------------


async def test_what_the_endpoint_refuses_is_told_to_its_sender(world: World) -> None:
    """B's system for A's bridge may not act for COMMUNE_B: B refuses its document (403
    unit_forbidden), and COMMUNE_B hears a 02 from the recipient saying so."""
    a = world.a
    packet, document_id = document(COMMUNE_B, DEPARTMENT)
    async with bridging(world):
        await a.connector.send(COMMUNE_B, packet, [DEPARTMENT])

        async def refused() -> dict[str, str]:
            said = await statuses(a, COMMUNE_B, document_id)
            return said if "02" in said else {}

        said = await a.until(refused, timeout=60, what="the 02 at COMMUNE_B")
    assert "unit_forbidden" in said["02"] or "không được phép" in said["02"]
    [carried] = await a.fetch(
        "SELECT refused_reason, remote_id FROM gateway_outbound WHERE sender = $1"
        " AND document_id = $2",
        COMMUNE_B, document_id,
    )  # fmt: skip
    assert (carried["refused_reason"], carried["remote_id"]) == ("unit_forbidden", None)


async def test_the_bridge_speaks_only_for_the_units_its_certificate_names(world: World) -> None:
    """PROVINCE is behind the gateway but the gateway's certificate does not name it: its
    document is refused, recorded and acknowledged, and nothing reaches A's unit."""
    a, b = world.a, world.b
    packet, document_id = document(PROVINCE, COMMUNE_A, "V/v không qua được")
    async with bridging(world):
        await b.connector.send(PROVINCE, packet, [COMMUNE_A])
        [taken] = await world.until(
            "SELECT * FROM gateway_inbound WHERE kind = 'edoc' AND sender = $1"
            " AND acknowledged_at IS NOT NULL AND refused_detail LIKE $2",
            PROVINCE, "%" + PROVINCE + "%", on=a, what="the refusal recorded at A",
        )  # fmt: skip
    assert (taken["refused_reason"], taken["message_id"]) == ("unit_forbidden", None)
    assert await a.fetch(
        "SELECT 1 FROM incoming_register WHERE document_id = $1", document_id
    ) == []  # fmt: skip
    assert await b.fetch(
        "SELECT 1 FROM vxp_acknowledgements WHERE message_id = $1 AND state = 'done'",
        taken["remote_id"],
    )  # fmt: skip


async def test_an_acknowledgement_the_endpoint_refuses_is_kept_not_taken_as_done(
    world: World,
) -> None:
    """updateStatus refused (B knows no such docId): the entry is not marked acknowledged,
    the refusal is kept with its code, and it is not asked again."""
    a = world.a
    remote_id = f"gone-{uuid.uuid4()}"
    await a.fetch(
        "INSERT INTO gateway_inbound (gateway, kind, remote_id, recipient, refused_reason)"
        " VALUES ($1, 'edoc', $2, $3, 'edxml_malformed')",
        world.gateway, remote_id, COMMUNE_A,
    )  # fmt: skip
    async with world.bridge() as bridge:
        await bridge.acknowledge()
        [row] = await a.fetch(
            "SELECT acknowledged_at, acknowledgement_refused FROM gateway_inbound"
            " WHERE remote_id = $1",
            remote_id,
        )
        assert row["acknowledged_at"] is None
        assert (row["acknowledgement_refused"] or "").startswith("not_found:"), row
        async with bridge.pool.acquire() as conn:
            asked = await bridge_store.to_acknowledge(conn, world.gateway)
    assert remote_id not in {r["remote_id"] for r in asked}


async def test_a_record_failing_the_bridges_check_is_recorded_and_its_sender_told(
    world: World,
) -> None:
    """A record on DEPARTMENT's topic whose router endorsement holds but whose edXML says
    another sender than its envelope (the bridge's own check refuses it): not carried, but
    recorded with its reason, and COMMUNE_A is sent a 02 from DEPARTMENT naming it."""
    a = world.a
    packet, _ = document(COMMUNE_A, DEPARTMENT)
    other, _ = document(COMMUNE_B, DEPARTMENT)
    body = dataclasses.replace(
        packing.build_body(packet, sender=COMMUNE_A, recipients=[DEPARTMENT]), edxml=other
    )
    sender = Identity.load(a.pki_dir / "units" / COMMUNE_A, COMMUNE_A)
    headers, value = sender.seal(a.connector.registry, body)
    endorsed = a.router_endorsement(value, body.message_id, DEPARTMENT)
    await produce(a.endpoints.kafka, a.topics.unit(DEPARTMENT), value, COMMUNE_A,
                  [*headers, endorsed])  # fmt: skip
    async with bridging(world):
        [carried] = await world.until(
            "SELECT * FROM gateway_outbound WHERE message_id = $1", body.message_id,
            on=a, what="the refusal recorded",
        )  # fmt: skip
        [told] = await world.until(
            "SELECT * FROM gateway_outbox WHERE message_id = $1 AND published_at IS NOT NULL",
            status_id(body.message_id, DEPARTMENT, "02"), on=a, what="the 02 published",
        )  # fmt: skip
    assert (carried["recipient"], carried["remote_id"]) == (DEPARTMENT, None)
    assert carried["refused_reason"] == "edxml_sender_mismatch", carried
    assert bytes(told["key"]) == DEPARTMENT.encode()


async def test_a_gateways_certificate_cannot_sign_for_another_gateways_unit(
    world: World, tmp_path: Path
) -> None:
    """A certificate issued for A's gateway that also names a unit the directory places
    behind another gateway: what it signs as that unit is refused by A's router
    (certificate_spans_gateways), and nothing reaches A's commune."""
    a = world.a
    rogue = a.pki.issue(
        f"lienthong gateway {world.gateway}", f"MDDT:{DEPARTMENT}", f"MDDT:{MINISTRY}"
    )
    rogue.write(tmp_path / "rogue")
    identity = Identity.speaking_for(tmp_path / "rogue")[MINISTRY]
    packet, document_id = document(MINISTRY, COMMUNE_A, "V/v mạo danh")
    body = packing.build_body(packet, sender=MINISTRY, recipients=[COMMUNE_A])
    headers, value = identity.seal(a.connector.registry, body)
    await produce(a.endpoints.kafka, a.topics.submit, value, MINISTRY, headers)
    [judged] = await world.until(
        "SELECT verdict, reason_code FROM messages WHERE message_id = $1", body.message_id,
        on=a, what="the router's verdict",
    )  # fmt: skip
    assert (judged["verdict"], judged["reason_code"]) == (
        "rejected", "certificate_spans_gateways",
    )  # fmt: skip
    assert (
        await a.fetch("SELECT 1 FROM incoming_register WHERE document_id = $1", document_id) == []
    )


async def test_the_gateway_role_sees_only_its_own_rows(world: World) -> None:
    """The bridge's database role reads the directory and its gateway's rows; no register."""
    conn = await database.connect(world.dsn, schema=world.a.settings.database_schema)
    try:
        await conn.fetch("SELECT organ_id FROM units")
        for table in ("incoming_register", "outgoing_register", "messages", "outbox"):
            with pytest.raises(Exception, match="permission denied"):
                await conn.fetch(f"SELECT 1 FROM {table}")
        await conn.execute(
            "INSERT INTO gateway_outbound (gateway, message_id, recipient, kind, sender)"
            " VALUES ($1, 'm', 'r', 'edoc', 's')",
            world.gateway,
        )
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                "INSERT INTO gateway_outbound (gateway, message_id, recipient, kind, sender)"
                " VALUES ('another', 'm', 'r', 'edoc', 's')"
            )
    finally:
        await conn.close()


# A bridge killed anywhere -------------------------------------------------------------------------


async def test_a_bridge_killed_at_random_loses_and_doubles_nothing(
    world: World, tmp_path: Path
) -> None:
    """Documents both ways while the bridge process is killed (SIGKILL) at random moments
    and started again: each arrives once, each is acknowledged, none is sent twice."""
    a, b = world.a, world.b
    secret_file = tmp_path / "secret.json"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"system_id": world.system_id, "secret": world.secret}, file)
    env = {
        **os.environ,
        "LIENTHONG_KAFKA_BOOTSTRAP": a.endpoints.kafka_bootstrap,
        "LIENTHONG_KAFKA_CLIENTS": str(a.settings.kafka_clients_dir),
        "LIENTHONG_DATABASE_SCHEMA": a.settings.database_schema,
        "LIENTHONG_TOPIC_PREFIX": a.settings.topic_prefix,
        "LIENTHONG_PKI_DIR": str(a.pki_dir),
        "LIENTHONG_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "lienthong", "vxp", "bridge", "run", "--endpoint", world.endpoint,
        "--system-id", world.system_id, "--secret-file", str(secret_file),
        "--gateway", world.gateway, "--poll-seconds", "0.2",
    ]  # fmt: skip
    log = (tmp_path / "bridge.log").open("ab")

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)

    rng = random.Random(14)
    out = [document(COMMUNE_A, DEPARTMENT, "V/v gửi đi") for _ in range(6)]
    back = [document(DEPARTMENT, COMMUNE_A, "V/v gửi về") for _ in range(6)]
    process = await start()
    try:
        for round_ in range(6):
            await a.connector.send(COMMUNE_A, out[round_][0], [DEPARTMENT])
            await b.connector.send(DEPARTMENT, back[round_][0], [COMMUNE_A])
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            process = await start()

        async def all_there() -> bool:
            there = await b.fetch(
                "SELECT count(*) AS n FROM incoming_register WHERE unit = $1"
                " AND document_id = ANY($2::text[])",
                DEPARTMENT, [d for _, d in out],
            )  # fmt: skip
            here = await a.fetch(
                "SELECT count(*) AS n FROM incoming_register WHERE unit = $1"
                " AND document_id = ANY($2::text[])",
                COMMUNE_A, [d for _, d in back],
            )  # fmt: skip
            return bool(there[0]["n"] >= len(out) and here[0]["n"] >= len(back))

        await a.until(all_there, timeout=120, what="every document on both sides")

        async def all_heard() -> bool:
            heard = [await statuses(a, COMMUNE_A, d) for _, d in out]
            pending = await a.fetch(
                "SELECT 1 FROM gateway_inbound WHERE acknowledged_at IS NULL"
                " AND acknowledgement_refused IS NULL"
            )
            return all("01" in h for h in heard) and not pending

        await a.until(all_heard, timeout=120, what="every 01 back, every entry acknowledged")
        await asyncio.sleep(3)  # room for a second copy of anything, were there one
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        log.close()
    for unit, on, sent in ((DEPARTMENT, b, out), (COMMUNE_A, a, back)):
        rows = await on.fetch(
            "SELECT document_id, count(*) AS n FROM incoming_register WHERE unit = $1"
            " AND document_id = ANY($2::text[]) GROUP BY document_id",
            unit, [d for _, d in sent],
        )  # fmt: skip
        assert {r["document_id"]: r["n"] for r in rows} == {d: 1 for _, d in sent}
    # Sent once: B's connector numbered each of A's documents once in COMMUNE_A's register.
    numbered = await b.fetch(
        "SELECT document_id, count(*) AS n FROM outgoing_register WHERE unit = $1"
        " AND document_id = ANY($2::text[]) GROUP BY document_id",
        COMMUNE_A, [d for _, d in out],
    )  # fmt: skip
    assert {r["document_id"]: r["n"] for r in numbered} == {d: 1 for _, d in out}
    taken = await a.fetch(
        "SELECT remote_id, recipient, message_id FROM gateway_inbound WHERE kind = 'edoc'"
        " AND document_id = ANY($1::text[])",
        [d for _, d in back],
    )
    assert len(taken) == len(back)
    assert all(
        t["message_id"] == message_id(world.gateway, t["remote_id"], [t["recipient"]])
        for t in taken
    )
