"""Federation: two lienthong exchanges (A and B: two topic prefixes and two schemas on the
local broker and database, each with its own router, connector, directory and credentials)
joined by a link (`lienthong peer run`), under one Government root as provinces are.

A hosts the communes and sees B's department and province as remote, behind gateway `gb`;
B hosts those and sees A's communes behind gateway `ga`. Neither router knows of the other:
the link hands each sender's envelope, byte for byte, to the other side's submit topic, and
what the other side's units say comes back the same way. Each side also lists a unit the
other does not have, so each router's refusal has to travel back as a recipient's 02.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker import provisioning
from broker.directory import Unit
from connectors import packing
from connectors.peer import Link
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from schemas import codec
from schemas.envelope import status_id
from signing.identity import Identity
from signing.testpki import TestPki, write_gateway
from tests.e2e.conftest import (
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    PROVINCE,
    Exchange,
    running_exchange,
)
from tests.e2e.gateways import behind, document, gateway_role, produce

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ONLY_A_KNOWS = "000.00.09.H62"
"""Behind gateway gb in A's directory; B has no such unit."""
ONLY_B_KNOWS = "000.04.00.H62"
"""Behind gateway ga in B's directory; A has no such unit."""
MINISTRY = "000.00.00.G12"
"""Behind a third gateway in A's directory (the national axis): nothing crosses to it."""
B_ROUTER = "lienthong-router-b"


@dataclasses.dataclass
class Federation:
    a: Exchange
    b: Exchange
    link: Link
    pki: TestPki


@pytest.fixture(scope="module")
async def federation(
    settings: Settings, services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Federation]:
    tag = uuid.uuid4().hex[:6]
    ga, gb = f"ga{tag}", f"gb{tag}"
    tmp = tmp_path_factory.mktemp("federation")
    pki = TestPki()
    a_units = behind(
        {DEPARTMENT: gb, PROVINCE: gb, MINISTRY: f"gn{tag}"},
        Unit(ONLY_A_KNOWS, "Sở chỉ A biết", "province", gateway=gb),
    )
    b_units = behind(
        {COMMUNE_A: ga, COMMUNE_B: ga},
        Unit(ONLY_B_KNOWS, "Xã chỉ B biết", "commune", gateway=ga),
    )
    async with (
        running_exchange(
            dataclasses.replace(settings, router_id=B_ROUTER), services, tmp / "b",
            directory=b_units, hosted=(DEPARTMENT, PROVINCE), shared_pki=pki,
        ) as b,
        running_exchange(
            settings, services, tmp / "a", directory=a_units, hosted=(COMMUNE_A, COMMUNE_B),
            shared_pki=pki,
        ) as a,
        gateway_role(services, gb) as dsn,
    ):  # fmt: skip
        # A's certificate for B's units (refusals coming in), B's for A's (going out).
        write_gateway(pki, a.pki_dir, gb, a_units.behind(gb))
        write_gateway(pki, b.pki_dir, ga, b_units.behind(ga))
        local = await provisioning.gateway_client(a.settings, services.kafka, a.topics, a_units, gb)
        peer = await provisioning.gateway_client(b.settings, services.kafka, b.topics, b_units, ga)
        link = Link(
            a.settings, gb, local_config=local, peer_config=peer, peer_prefix=b.topics.prefix,
            peer_router_id=B_ROUTER, dsn=dsn, peer_identity=b.pki_dir / "gateways" / ga,
        )  # fmt: skip
        async with link:
            stop = asyncio.Event()
            task = asyncio.create_task(link.run(stop))
            try:
                yield Federation(a, b, link, pki)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)


async def heard(on: Exchange, unit: str, message_id: str) -> dict[str, dict[str, Any]]:
    """What `unit` heard about a document it sent: code -> the status row."""
    rows = await on.fetch(
        "SELECT * FROM outgoing_status WHERE unit = $1 AND message_id = $2", unit, message_id
    )
    return {row["status_code"]: row for row in rows}


async def test_a_commune_reaches_a_department_of_the_other_province_and_statuses_return(
    federation: Federation,
) -> None:
    a, b = federation.a, federation.b
    packet, document_id = document(COMMUNE_A, DEPARTMENT, "V/v phối hợp liên tỉnh")
    sent, _ = await a.connector.send(COMMUNE_A, packet, [DEPARTMENT])

    async def arrived() -> list[dict[str, Any]]:
        return await b.fetch(
            "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2",
            DEPARTMENT, sent.message_id,
        )  # fmt: skip

    [there] = await b.until(arrived, timeout=60, what="A's document at B's department")
    assert bytes(there["edxml"]) == packet
    assert (there["sender"], there["document_id"]) == (COMMUNE_A, document_id)
    # End to end: B's router judged the very envelope A's commune signed, not a copy of it.
    [queued] = await a.fetch("SELECT value FROM outbox WHERE message_id = $1", sent.message_id)
    [judged] = await b.fetch(
        "SELECT sender, envelope_sha256 FROM messages WHERE message_id = $1", sent.message_id
    )
    assert judged["sender"] == COMMUNE_A
    assert bytes(judged["envelope_sha256"]) == hashlib.sha256(bytes(queued["value"])).digest()

    for code in ("03", "04", "05", "06"):
        await b.connector.post_status(DEPARTMENT, sent.message_id, code, f"Bước {code}")

    async def all_back() -> dict[str, dict[str, Any]]:
        said = await heard(a, COMMUNE_A, sent.message_id)
        return said if set(said) >= {"01", "03", "04", "05", "06"} else {}

    said = await a.until(all_back, timeout=90, what="01…06 back at A's commune")
    assert {row["recipient"] for row in said.values()} == {DEPARTMENT}
    assert said["05"]["description"] == "Bước 05"
    [delivery] = await a.fetch(
        "SELECT state FROM deliveries WHERE message_id = $1 AND recipient = $2",
        sent.message_id, DEPARTMENT,
    )  # fmt: skip
    assert delivery["state"] == "06"

    # And the other way: B's department writes to A's commune, which answers.
    packet, _ = document(DEPARTMENT, COMMUNE_B, "V/v trả lời")
    back, _ = await b.connector.send(DEPARTMENT, packet, [COMMUNE_B])

    async def here() -> list[dict[str, Any]]:
        return await a.fetch(
            "SELECT * FROM incoming_register WHERE unit = $1 AND message_id = $2",
            COMMUNE_B, back.message_id,
        )  # fmt: skip

    [entry] = await a.until(here, timeout=60, what="B's document at A's commune")
    assert bytes(entry["edxml"]) == packet
    await a.connector.post_status(COMMUNE_B, back.message_id, "03", "Đã nhận")

    async def answered() -> dict[str, dict[str, Any]]:
        said = await heard(b, DEPARTMENT, back.message_id)
        return said if {"01", "03"} <= set(said) else {}

    said = await b.until(answered, timeout=60, what="A's 01 and 03 at B's department")
    assert said["03"]["recipient"] == COMMUNE_B


async def test_the_other_router_s_refusal_comes_back_as_the_recipient_s_02(
    federation: Federation,
) -> None:
    """A routes to a unit B does not have: B's router refuses the document as a whole, and
    the link tells A's sender through a 02 from that recipient (signed by A's gateway)."""
    a = federation.a
    packet, _ = document(COMMUNE_A, ONLY_A_KNOWS, "V/v gửi nhầm nơi")
    sent, _ = await a.connector.send(COMMUNE_A, packet, [ONLY_A_KNOWS])

    async def refused() -> dict[str, dict[str, Any]]:
        said = await heard(a, COMMUNE_A, sent.message_id)
        return said if "02" in said else {}

    said = await a.until(refused, timeout=60, what="B's refusal back at A")
    assert said["02"]["recipient"] == ONLY_A_KNOWS
    assert said["02"]["reason_code"] == "unit_unknown"


async def test_this_router_s_refusal_goes_back_to_the_other_side(federation: Federation) -> None:
    """B routes to a unit A does not have: A's router refuses, and B's department hears a
    02 from that recipient (signed with B's gateway certificate for A's units)."""
    b = federation.b
    packet, _ = document(DEPARTMENT, ONLY_B_KNOWS, "V/v gửi nhầm nơi")
    sent, _ = await b.connector.send(DEPARTMENT, packet, [ONLY_B_KNOWS])

    async def refused() -> dict[str, dict[str, Any]]:
        said = await heard(b, DEPARTMENT, sent.message_id)
        return said if "02" in said else {}

    said = await b.until(refused, timeout=60, what="A's refusal back at B")
    assert said["02"]["recipient"] == ONLY_B_KNOWS
    assert said["02"]["reason_code"] == "unit_unknown"


async def test_the_other_province_cannot_speak_as_a_unit_of_this_one(
    federation: Federation,
) -> None:
    """B holds a certificate naming A's units (for its refusals) that A's router would take
    as theirs: what comes in must be from a unit behind the gateway, or it is refused and
    recorded, and never reaches A's register as from A's own commune."""
    a, b, link = federation.a, federation.b, federation.link
    packet, _ = document(COMMUNE_A, COMMUNE_B, "Giả danh xã của tỉnh A")
    body = packing.build_body(packet, sender=COMMUNE_A, recipients=[COMMUNE_B])
    forger = Identity.speaking_for(b.pki_dir / "gateways" / link.peer_gateway)[COMMUNE_A]
    headers, value = forger.seal(codec.Registry.load(), body)
    await produce(link.peer_config, b.topics.submit, value, COMMUNE_A, headers)

    async def refused() -> list[dict[str, Any]]:
        return await a.fetch("SELECT * FROM gateway_inbound WHERE message_id = $1", body.message_id)

    [row] = await a.until(refused, timeout=90, what="the forged document refused by the link")
    assert row["refused_reason"] == "unit_forbidden"
    assert row["sender"] == COMMUNE_A
    assert not await a.fetch(
        "SELECT 1 FROM messages WHERE message_id = $1 UNION ALL"
        " SELECT 1 FROM incoming_register WHERE message_id = $1",
        body.message_id,
    )


async def test_the_link_carries_nothing_in_transit(federation: Federation) -> None:
    """A's commune writes to B's department and to a unit behind another gateway of A's:
    the link does not hand that document to B (no transit through a peer), records why,
    and the commune hears a 02 from the department naming unit_remote."""
    a, b = federation.a, federation.b
    packet, _ = document(COMMUNE_A, DEPARTMENT, "V/v gửi qua hai cổng", also=[MINISTRY])
    sent, _ = await a.connector.send(COMMUNE_A, packet, [DEPARTMENT, MINISTRY])

    async def refused() -> dict[str, dict[str, Any]]:
        said = await heard(a, COMMUNE_A, sent.message_id)
        return said if "02" in said else {}

    said = await a.until(refused, timeout=60, what="the link's refusal at A's commune")
    assert (said["02"]["recipient"], said["02"]["reason_code"]) == (DEPARTMENT, "unit_remote")
    [row] = await a.fetch(
        "SELECT recipient, refused_reason FROM gateway_outbound WHERE message_id = $1",
        sent.message_id,
    )
    assert (row["recipient"], row["refused_reason"]) == (DEPARTMENT, "unit_remote")
    assert not await b.fetch("SELECT 1 FROM messages WHERE message_id = $1", sent.message_id)


async def test_a_record_failing_the_links_check_is_recorded_and_its_sender_told(
    federation: Federation,
) -> None:
    """A record on DEPARTMENT's topic at A with A's router's endorsement, whose edXML names
    another sender than its envelope: not handed to B, recorded with its reason, and a 02
    from the department to the commune submitted to A's router."""
    a, b = federation.a, federation.b
    packet, _ = document(COMMUNE_A, DEPARTMENT, "V/v không khớp")
    other, _ = document(COMMUNE_B, DEPARTMENT, "V/v không khớp")
    body = dataclasses.replace(
        packing.build_body(packet, sender=COMMUNE_A, recipients=[DEPARTMENT]), edxml=other
    )
    sender = Identity.load(a.pki_dir / "units" / COMMUNE_A, COMMUNE_A)
    headers, value = sender.seal(codec.Registry.load(), body)
    endorsed = a.router_endorsement(value, body.message_id, DEPARTMENT)
    await produce(a.endpoints.kafka, a.topics.unit(DEPARTMENT), value, COMMUNE_A,
                  [*headers, endorsed])  # fmt: skip

    async def recorded() -> list[dict[str, Any]]:
        return await a.fetch(
            "SELECT * FROM gateway_outbound WHERE message_id = $1", body.message_id
        )

    [row] = await a.until(recorded, timeout=60, what="the link's refusal recorded")
    assert (row["recipient"], row["refused_reason"]) == (DEPARTMENT, "edxml_sender_mismatch")
    told = status_id(body.message_id, DEPARTMENT, "02")

    async def judged() -> list[dict[str, Any]]:
        return await a.fetch("SELECT sender, responds_to FROM messages WHERE message_id = $1", told)

    # A's router heard the 02 (and refused it: the forged document never went through it).
    [said] = await a.until(judged, timeout=30, what="the 02 at A's router")
    assert (said["sender"], said["responds_to"]) == (DEPARTMENT, body.message_id)
    assert not await b.fetch("SELECT 1 FROM messages WHERE message_id = $1", body.message_id)


async def test_a_gateway_certificate_naming_a_unit_of_this_exchange_is_refused_at_start(
    federation: Federation, tmp_path: Path
) -> None:
    a, link = federation.a, federation.link
    pki_dir = tmp_path / "pki"
    shutil.copytree(a.pki_dir, pki_dir)
    shutil.rmtree(pki_dir / "gateways" / link.gateway)
    write_gateway(federation.pki, pki_dir, link.gateway, [DEPARTMENT, COMMUNE_A])
    wrong = Link(
        dataclasses.replace(a.settings, pki_dir=pki_dir), link.gateway,
        local_config=link.local_config, peer_config=link.peer_config,
        peer_prefix=link.peer.prefix, peer_router_id=B_ROUTER, dsn=link.dsn,
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match=COMMUNE_A):
        async with wrong:
            pass
