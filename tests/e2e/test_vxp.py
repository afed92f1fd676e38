"""The national axis protocol under /vxp, against the whole exchange over a real socket, with
the test playing an agency system exactly as the deployed SDKs do: one header map kept for
the life of the client (earlier calls' parameters ride along), one timestamp, every
parameter both as a loose `XroadVnpt-` header and in the signed JSON, HMAC-SHA256 over that
JSON's bytes, the edXML body followed by a CRLF and its hash in unpadded hex.

The client here is written from the protocol, not from lienthong's code, so a mistake on
the server is not mirrored by the test.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import pytest

from connectors import api
from connectors.vxp import systems
from connectors.vxp.server import claim_key
from kernel import database
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from schemas import edxml
from tests.e2e.conftest import (
    CLOSED_DISTRICT,
    COMMUNE_A,
    COMMUNE_B,
    DEPARTMENT,
    PROVINCE,
    Exchange,
    exchange_with,
)
from tests.paths import CONFORMANCE, FIXTURES, needs_conformance

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()
CRLF = b"\r\n"
_numbers = itertools.count(1000)
VENDOR_DOCUMENT = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT".encode()


@dataclasses.dataclass
class Answer:
    status: int
    body: Any
    raw: bytes

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body["status"] == "OK"

    def refused(self, status: int, reason: str) -> None:
        assert (self.status, self.body["status"], self.body["reason_code"]) == (
            status, "FAIL", reason,
        ), self.body  # fmt: skip
        assert self.body["ErrorCode"] not in ("", "0")
        assert self.body["ErrorDesc"]


class Client:
    """An agency system speaking the axis protocol, as the deployed Java SDK behaves."""

    def __init__(self, base: str, system_id: str, secret: str) -> None:
        self.base = base
        self.secret = secret
        now = datetime.datetime.now()
        self.params = {
            "timestamp": f"{now:%d%m%YT%H%M%S}+{now.microsecond // 1000:04d}",
            "systemid": system_id,
        }

    def headers(self, params: dict[str, str]) -> dict[str, str]:
        self.params.update(params)  # the SDK keeps them all, stale ones included
        sign = json.dumps(
            {f"XroadVnpt-{k}": v for k, v in self.params.items()}, separators=(",", ":")
        )
        digest = hmac.new(self.secret.encode(), sign.encode(), hashlib.sha256).hexdigest()
        return {
            **{f"XroadVnpt-{k}": v for k, v in self.params.items()},
            "XroadVnpt-sign-header-key": ";".join(self.params),
            "XroadVnpt-sign-header": sign,
            "XroadVnpt-hash-header": digest,
            "XroadVnpt-version": "3.0.201608",
            "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
        }

    async def call(
        self,
        operation: str,
        params: dict[str, str] | None = None,
        *,
        body: bytes = b"",
        content_type: str = "application/json",
        method: str = "POST",
        change: Callable[[dict[str, str]], dict[str, str]] | None = None,
    ) -> Answer:
        headers = {**self.headers(params or {}), "Content-Type": content_type}
        if change is not None:
            headers = change(headers)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"{self.base}/{operation}", data=body, headers=headers,
                skip_auto_headers=["Content-Type"],
            ) as response,
        ):  # fmt: skip
            raw = await response.read()
            assert response.content_type == "application/json", raw
            assert raw.isascii(), raw  # one client reads answers as US-ASCII
            return Answer(response.status, json.loads(raw), raw)

    async def send(
        self, sender: str, document: bytes, *, to: Sequence[str] | None = None, kind: str = "edoc",
        **changes: Any,
    ) -> Answer:  # fmt: skip
        params = {"from": sender, "servicetype": "eDoc", "messagetype": kind,
                  "hash-file": unpadded(hashlib.sha256(document).digest())}  # fmt: skip
        if to is not None:
            params["to"] = json.dumps(list(to))
        return await self.call(
            "sendEdoc", params, body=document + CRLF, content_type="application/octet-stream",
            **changes,
        )  # fmt: skip

    async def pending(self, kind: str = "edoc") -> list[dict[str, Any]]:
        answer = await self.call(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": kind}, body=b""
        )
        assert answer.ok, answer.body
        return list(answer.body["data"])

    async def fetch(self, doc_id: str) -> bytes:
        answer = await self.call("getEdoc", {"docId": doc_id}, body=b"{}")
        assert answer.ok, answer.body
        return base64.b64decode(answer.body["data"])

    async def acknowledge(self, doc_id: str, status: str = "done") -> Answer:
        return await self.call("updateStatus", {"docId": doc_id, "status": status}, body=b"{}")

    async def drain(self, kind: str = "edoc") -> None:
        """Acknowledge whatever earlier tests left for these units."""
        for entry in await self.pending(kind):
            assert (await self.acknowledge(entry["docId"])).ok


def unpadded(digest: bytes) -> str:
    """As Java's Integer.toHexString renders each byte: 0x0a is `a`."""
    return "".join(f"{byte:x}" for byte in digest)


def document(sender: str = PROVINCE) -> tuple[bytes, str]:
    """The fixture document under a number of its own, so each send is new bytes, and one
    whose SHA-256 has a byte under 0x10 (its unpadded hex differs from the usual)."""
    while True:
        number = next(_numbers)
        packet = (
            DOCUMENT.replace(b",125/UBND-VP", f",{number}/UBND-VP".encode())
            .replace(b"<CodeNumber>125<", f"<CodeNumber>{number}<".encode())
            .replace(b"000.00.00.H62", sender.encode())
        )
        digest = hashlib.sha256(packet).digest()
        if unpadded(digest) != digest.hex():
            return packet, f"{sender},2026/11/20,{number}/UBND-VP"


def status_packet(author: str, about_sender: str, document_id: str, code: str, text: str) -> bytes:
    """A status packet as an agency system writes one (QCVN 102:2016)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>{author}</edXML:OrganId>
        </edXML:From>
        <edXML:ResponseFor>
          <edXML:OrganId>{about_sender}</edXML:OrganId>
          <edXML:DocumentId>{document_id}</edXML:DocumentId>
        </edXML:ResponseFor>
        <edXML:StatusCode>{code}</edXML:StatusCode>
        <edXML:Description>{text}</edXML:Description>
        <edXML:Timestamp>2026/11/20 09:00:00</edXML:Timestamp>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
""".encode()


@dataclasses.dataclass
class Axis:
    exchange: Exchange
    base: str

    async def system(
        self, *units: str, system_id: str | None = None, key: systems.SealingKey | None = None
    ) -> Client:
        """A system made as the operator's command makes one, on a connection of its own."""
        key = key or systems.ensure_key(systems.key_path(self.exchange.settings))
        conn = await database.connect(
            self.exchange.dsn, schema=self.exchange.settings.database_schema
        )
        try:
            made, secret = await systems.create(
                conn, key, units, system_id=system_id, name="test", actor="pytest"
            )
        finally:
            await conn.close()
        return Client(self.base, made.id, secret)

    async def count(self, query: str, *args: Any) -> int:
        return int((await self.exchange.fetch(query, *args))[0]["count"])


@pytest.fixture(scope="module")
async def axis(
    settings: Settings, services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Axis]:
    """One exchange for this module; each test makes its own systems and documents."""
    async with (
        exchange_with(settings, services, tmp_path_factory.mktemp("vxp")) as exchange,
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
    ):
        yield Axis(exchange, f"http://127.0.0.1:{port}/vxp")


async def _until(axis: Axis, probe: Callable[[], Any], what: str) -> Any:
    return await axis.exchange.until(probe, timeout=60, what=what)


# The round trip ------------------------------------------------------------------------------


async def test_send_list_fetch_acknowledge_and_the_statuses_back(axis: Axis) -> None:
    province = await axis.system(PROVINCE)
    commune = await axis.system(COMMUNE_A)
    await commune.drain()
    await province.drain("status")
    packet, document_id = document()

    sent = await province.send(PROVINCE, packet, to=[COMMUNE_A])
    assert sent.ok, sent.body
    doc_id = sent.body["DocId"]
    assert (sent.body["ErrorCode"], sent.body["ErrorDesc"]) == ("0", "")

    async def listed() -> list[dict[str, Any]]:
        return [e for e in await commune.pending() if e["docId"] == doc_id]

    [entry] = await _until(axis, listed, "the document in the receiver's list")
    assert (entry["from"], entry["to"], entry["serviceType"], entry["messageType"]) == (
        PROVINCE, COMMUNE_A, "eDoc", "edoc",
    )  # fmt: skip
    assert entry["status"] == "pending"
    count = await commune.call("countReceiveEdoc", method="GET")
    assert count.ok
    assert count.body["count"] >= 1
    assert await commune.fetch(doc_id) == packet  # byte for byte, its own last newline too

    # processing is recorded, fail keeps it for another try, done takes it off the list.
    # (A new service object of the same system, spelling the parameter `docid`.)
    again_commune = Client(axis.base, commune.params["systemid"], commune.secret)
    took = await again_commune.call("updateStatus", {"docid": doc_id, "status": "processing"})
    assert took.ok, took.body
    assert [e["status"] for e in await listed()] == ["processing"]
    assert (await commune.acknowledge(doc_id, "fail")).ok
    assert [e["status"] for e in await listed()] == ["fail"]
    assert (await commune.acknowledge(doc_id, "done")).ok
    assert await listed() == []
    assert (await commune.call("countReceiveEdoc")).body["count"] == 0

    # The receiver's business status goes back as a status packet, sent twice as a retry is.
    answer = status_packet(COMMUNE_A, PROVINCE, document_id, "03", "Văn thư đã tiếp nhận")
    first = await commune.send(COMMUNE_A, answer, kind="status")
    assert first.ok, first.body
    again = await commune.send(COMMUNE_A, answer, kind="status")
    assert again.body["DocId"] == first.body["DocId"]

    async def heard() -> list[dict[str, Any]]:
        entries = await province.pending("status")
        return entries if {e["status"] for e in entries} >= {"01", "03"} else []

    statuses = await _until(axis, heard, "01 and 03 at the sender")
    [accepted] = [e for e in statuses if e["status"] == "03"]
    assert accepted["docId"] == first.body["DocId"]
    assert (accepted["from"], accepted["to"], accepted["messageType"]) == (
        COMMUNE_A, PROVINCE, "status",
    )  # fmt: skip
    assert accepted["status_desc"] == "Văn thư đã tiếp nhận"
    said = edxml.parse(await province.fetch(accepted["docId"]))
    assert isinstance(said, edxml.StatusPacket)
    assert (said.status_code, said.document_id, said.from_.organ_id) == (
        "03", document_id, COMMUNE_A,
    )  # fmt: skip

    listing = await province.call("getSentEdocList", {"docId": doc_id})
    assert listing.ok
    [state] = listing.body["data"]
    assert (state["senderDocId"], state["fromCode"], state["toCode"]) == (
        doc_id, PROVINCE, COMMUNE_A,
    )  # fmt: skip
    assert (state["sendStatus"], state["receiveStatus"]) == ("done", "03")
    assert state["receiveStatusDesc"] == "Văn thư đã tiếp nhận"
    assert state["notation"] == document_id.split(",")[2]
    assert state["title"] == "V/v triển khai liên thông văn bản điện tử 4 cấp"
    assert state["receivedTime"]

    before = (await province.call("countReceiveStatus")).body["count"]
    assert (await province.acknowledge(accepted["docId"])).ok
    assert (await province.call("countReceiveStatus", method="GET")).body["count"] == before - 1
    assert accepted["docId"] not in {e["docId"] for e in await province.pending("status")}

    # Sent through the connector's own path: numbered once, registered once by the receiver.
    assert await axis.count(
        "SELECT count(*) FROM outgoing_register WHERE unit = $1 AND document_id = $2",
        PROVINCE, document_id,
    ) == 1  # fmt: skip
    assert await axis.count(
        "SELECT count(*) FROM incoming_register WHERE message_id = $1", doc_id
    ) == 1  # fmt: skip


async def test_a_retried_send_is_one_document_delivered_once(axis: Axis) -> None:
    province = await axis.system(PROVINCE)
    commune = await axis.system(COMMUNE_B)
    packet, document_id = document()
    answers = await asyncio.gather(
        *(province.send(PROVINCE, packet, to=[COMMUNE_B]) for _ in range(3))
    )
    later = await province.send(PROVINCE, packet, to=[COMMUNE_B])
    doc_ids = {a.body["DocId"] for a in [*answers, later]}
    assert len(doc_ids) == 1, [a.body for a in answers]
    [doc_id] = doc_ids

    async def received() -> bool:
        return doc_id in {e["docId"] for e in await commune.pending()}

    await _until(axis, received, "the document at the receiver")
    await asyncio.sleep(2)  # room for a second delivery, were there one
    assert await axis.count(
        "SELECT count(*) FROM outgoing_register WHERE unit = $1 AND document_id = $2",
        PROVINCE, document_id,
    ) == 1  # fmt: skip
    assert await axis.count(
        "SELECT count(*) FROM incoming_register WHERE unit = $1 AND document_id = $2",
        COMMUNE_B, document_id,
    ) == 1  # fmt: skip


async def test_the_same_bytes_to_another_recipient_are_another_send(axis: Axis) -> None:
    """A bridge sends one document to each remote recipient alone (one record each): the
    same bytes to another `to` are not a retry of the first."""
    province = await axis.system(PROVINCE)
    packet, document_id = document()  # To: COMMUNE_A and COMMUNE_B
    first = await province.send(PROVINCE, packet, to=[COMMUNE_A])
    second = await province.send(PROVINCE, packet, to=[COMMUNE_B])
    again = await province.send(PROVINCE, packet, to=[COMMUNE_B])
    assert first.ok, first.body
    assert second.ok, second.body
    assert first.body["DocId"] != second.body["DocId"] == again.body["DocId"]
    assert await axis.count(
        "SELECT count(*) FROM outgoing_register WHERE unit = $1 AND document_id = $2",
        PROVINCE, document_id,
    ) == 2  # fmt: skip


async def test_a_send_cut_off_by_a_crash_is_adopted_not_repeated(axis: Axis) -> None:
    """A claim whose lease ran out: the document its sender registered under the id the
    claim reserved is the answer, whatever the order of `to` in the resend; one it did not
    get to register is sent under that id; a claim still leased is waited for, then taken
    over and sent once."""
    province = await axis.system(PROVINCE)
    claim = (
        "INSERT INTO vxp_sent (unit, sha256, system_id, claimed_at, lease_until, reserved_id)"
        " VALUES ($1, $2, 'crashed', now() - interval '5 seconds',"
        " now() + $3 * interval '1 second', $4)"
    )
    packet, document_id = document()  # To: COMMUNE_A and COMMUNE_B
    reserved = str(uuid.uuid4())
    await axis.exchange.fetch(claim, PROVINCE, claim_key(packet, [COMMUNE_A, COMMUNE_B]), -1,
                              reserved)  # fmt: skip
    # The crashed request numbered the document, and stopped before completing its claim.
    await axis.exchange.connector.send(
        PROVINCE, packet, [COMMUNE_A, COMMUNE_B], message_id=reserved
    )
    sent = await province.send(PROVINCE, packet, to=[COMMUNE_B, COMMUNE_A, COMMUNE_B])
    assert sent.body["DocId"] == reserved, sent.body
    assert await axis.count(
        "SELECT count(*) FROM outgoing_register WHERE unit = $1 AND document_id = $2",
        PROVINCE, document_id,
    ) == 1  # fmt: skip

    unsent, unsent_id = document()
    reserved = str(uuid.uuid4())
    await axis.exchange.fetch(claim, PROVINCE, claim_key(unsent, [COMMUNE_A]), -1, reserved)
    sent = await province.send(PROVINCE, unsent, to=[COMMUNE_A])
    assert sent.body["DocId"] == reserved, sent.body

    fresh, fresh_id = document()
    await axis.exchange.fetch(claim, PROVINCE, claim_key(fresh, [COMMUNE_A]), 2, None)
    started = asyncio.get_running_loop().time()
    taken = await province.send(PROVINCE, fresh, to=[COMMUNE_A])
    assert taken.ok, taken.body
    assert asyncio.get_running_loop().time() - started >= 1.5  # it waited for the lease
    assert (await province.send(PROVINCE, fresh, to=[COMMUNE_A])).body["DocId"] == taken.body[
        "DocId"
    ]
    for each in (unsent_id, fresh_id):
        assert await axis.count(
            "SELECT count(*) FROM outgoing_register WHERE unit = $1 AND document_id = $2",
            PROVINCE, each,
        ) == 1  # fmt: skip


async def test_an_acknowledgement_covers_only_the_units_it_was_listed_for(axis: Axis) -> None:
    """One system for two units: a document for both reaches one before the list is read and
    the other after; `updateStatus done` takes it off the list for the first only, and the
    second's copy stays listed until acknowledged in its turn."""
    exchange = axis.exchange
    both = await axis.system(COMMUNE_A, COMMUNE_B)
    await both.drain()
    province = await axis.system(PROVINCE)
    packet, _ = document()  # To: COMMUNE_A and COMMUNE_B
    async with exchange.connector_held_back(COMMUNE_B):
        sent = await province.send(PROVINCE, packet, to=[COMMUNE_A, COMMUNE_B])
        doc_id = sent.body["DocId"]

        async def listed() -> list[str]:
            return [e["to"] for e in await both.pending() if e["docId"] == doc_id]

        assert await _until(axis, listed, "the document listed for COMMUNE_A") == [COMMUNE_A]

    async def at_b() -> list[dict[str, Any]]:
        return await exchange.fetch(
            "SELECT 1 FROM incoming_register WHERE unit = $1 AND message_id = $2",
            COMMUNE_B, doc_id,
        )  # fmt: skip

    await _until(axis, at_b, "the document at COMMUNE_B")
    assert (await both.acknowledge(doc_id)).ok
    assert await listed() == [COMMUNE_B]
    assert (await both.acknowledge(doc_id)).ok
    assert await listed() == []


async def test_recipients_come_from_the_edxml_when_to_is_not_given(axis: Axis) -> None:
    department = await axis.system(DEPARTMENT)
    packet, _ = document(DEPARTMENT)  # To: COMMUNE_A and COMMUNE_B
    sent = await department.send(DEPARTMENT, packet)
    assert sent.ok, sent.body

    async def both() -> list[dict[str, Any]]:
        answer = await department.call("getSentEdocList", {"docId": sent.body["DocId"]})
        entries = answer.body["data"]
        return entries if all(e["receiveStatus"] == "01" for e in entries) else []

    entries = await _until(axis, both, "both recipients' 01")
    assert sorted(e["toCode"] for e in entries) == [COMMUNE_A, COMMUNE_B]
    assert {e["sendStatus"] for e in entries} == {"done"}


async def test_the_agencies_list_is_the_directory(axis: Axis) -> None:
    client = await axis.system(PROVINCE)
    answer = await client.call("getAgenciesList", body=b"{}")
    assert answer.ok
    agencies = {a["code"]: a for a in answer.body["data"]}
    assert agencies[PROVINCE]["name"] == "UBND tỉnh Vĩnh Long"
    assert b"\\u1ec9nh" in answer.raw  # ASCII on the wire, Vietnamese once decoded
    assert agencies[COMMUNE_A]["pid"] == PROVINCE
    assert set(agencies[COMMUNE_A]) == {"id", "code", "name", "mail", "pid", "oldCode"}
    assert CLOSED_DISTRICT in agencies[COMMUNE_A]["oldCode"].split(",")


# Refusals -------------------------------------------------------------------------------------


async def test_refusals_name_their_code_and_send_nothing(axis: Axis) -> None:
    province = await axis.system(PROVINCE)
    packet, _ = document()
    sent_before = await axis.count("SELECT count(*) FROM outgoing_register")

    wrong_secret = Client(axis.base, province.params["systemid"], "not the secret")
    (await wrong_secret.send(PROVINCE, packet, to=[COMMUNE_A])).refused(
        401, "request_signature_invalid"
    )
    unknown = Client(axis.base, "vxp.nobody", "x")
    (await unknown.send(PROVINCE, packet, to=[COMMUNE_A])).refused(401, "system_unknown")
    (await province.send(COMMUNE_A, packet, to=[COMMUNE_B])).refused(403, "unit_forbidden")

    def tampered(headers: dict[str, str]) -> dict[str, str]:
        """The signed JSON changed after signing: another recipient slipped in."""
        sign = headers["XroadVnpt-sign-header"].replace(COMMUNE_A, COMMUNE_B)
        return {**headers, "XroadVnpt-sign-header": sign, "XroadVnpt-to": json.dumps([COMMUNE_B])}

    (await province.send(PROVINCE, packet, to=[COMMUNE_A], change=tampered)).refused(
        401, "request_signature_invalid"
    )

    def unsigned(headers: dict[str, str]) -> dict[str, str]:
        """A loose parameter header the signature does not cover."""
        return {**headers, "XroadVnpt-to": json.dumps([COMMUNE_B])}

    fresh = await axis.system(PROVINCE)  # whose map holds no `to` yet
    (await fresh.send(PROVINCE, packet, change=unsigned)).refused(400, "parameter_unsigned")

    def unsigned_value(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "XroadVnpt-from": DEPARTMENT}

    (await province.send(PROVINCE, packet, to=[COMMUNE_A], change=unsigned_value)).refused(
        400, "parameter_unsigned"
    )

    def unsigned_request(headers: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in headers.items() if not k.startswith("XroadVnpt-")}

    (await province.send(PROVINCE, packet, change=unsigned_request)).refused(
        401, "credentials_missing"
    )

    lie = await province.call(  # hash-file over the body with its CRLF: not the document
        "sendEdoc",
        {"from": PROVINCE, "servicetype": "eDoc", "messagetype": "edoc",
         "hash-file": unpadded(hashlib.sha256(packet + CRLF).digest())},
        body=packet + CRLF, content_type="application/octet-stream",
    )  # fmt: skip
    lie.refused(400, "body_hash_mismatch")
    (await province.send(PROVINCE, b"<not-edxml", to=[COMMUNE_A])).refused(400, "edxml_malformed")
    (await province.send(PROVINCE, packet, to=["H62"])).refused(400, "organid_invalid")
    (await province.send(PROVINCE, packet, to=[COMMUNE_A], kind="status")).refused(
        400, "request_malformed"
    )
    (await province.send(PROVINCE, packet, to=[COMMUNE_A], kind="memo")).refused(
        400, "request_malformed"
    )
    multipart = await province.call(
        "sendEdoc", {"from": PROVINCE, "messagetype": "edoc", "hash-file": ""},
        body=b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\n" + packet + b"\r\n--b--",
        content_type="multipart/form-data; boundary=b",
    )  # fmt: skip
    multipart.refused(400, "request_malformed")
    assert await axis.count("SELECT count(*) FROM outgoing_register") == sent_before

    # A raw body under a multipart content type, as one client sends it, is accepted.
    raw = await province.call(
        "sendEdoc",
        {"from": PROVINCE, "messagetype": "edoc", "to": json.dumps([COMMUNE_A]),
         "hash-file": unpadded(hashlib.sha256(packet).digest())},
        body=packet + CRLF, content_type="multipart/form-data; boundary=----x",
    )  # fmt: skip
    assert raw.ok, raw.body


async def test_other_operations_refuse_what_they_cannot_do(axis: Axis) -> None:
    commune = await axis.system(COMMUNE_A)
    (await commune.call("getEdoc", {"docId": "no-such-document"})).refused(404, "not_found")
    (await commune.call("updateStatus", {"docId": "no-such-document", "status": "done"})).refused(
        404, "not_found"
    )
    (await commune.call("updateStatus", {"docId": "x", "status": "finished"})).refused(
        400, "request_malformed"
    )
    fresh = await axis.system(COMMUNE_A)
    (await fresh.call("getEdoc")).refused(400, "request_malformed")  # no docId at all
    (await commune.call("getReceivedEdocList", {"messagetype": "memo"})).refused(
        400, "request_malformed"
    )
    (await commune.call("nowhere")).refused(404, "not_found")
    (await commune.call("sendEdoc", method="GET")).refused(405, "method_not_allowed")
    (await commune.call("countReceiveEdoc", method="DELETE")).refused(405, "method_not_allowed")
    # An unauthenticated caller learns nothing about paths: the signature comes first.
    (await Client(axis.base, "vxp.nobody", "x").call("nowhere")).refused(401, "system_unknown")
    elsewhere = await commune.call(
        "countReceiveEdoc", change=lambda h: {**h, "Host": "evil.example"}
    )
    elsewhere.refused(421, "host_forbidden")


async def test_a_sign_header_past_8_kib_gets_the_protocols_answer(axis: Axis) -> None:
    """SDKs carry every stale parameter in the signed header, which outgrows aiohttp's
    8 KiB default; the answer is still the protocol's JSON."""
    commune = await axis.system(COMMUNE_A)
    stale = {f"stale{n}": "x" * 100 for n in range(120)}
    answer = await commune.call("countReceiveEdoc", stale)
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "OK"


async def test_a_status_about_an_unknown_document_is_refused(axis: Axis) -> None:
    commune = await axis.system(COMMUNE_A)
    packet = status_packet(COMMUNE_A, PROVINCE, f"{PROVINCE},2026/11/20,1/UBND-VP", "03", "x")
    (await commune.send(COMMUNE_A, packet, kind="status")).refused(400, "status_unknown_message")
    mine = status_packet(COMMUNE_B, PROVINCE, f"{PROVINCE},2026/11/20,1/UBND-VP", "03", "x")
    (await commune.send(COMMUNE_A, mine, kind="status")).refused(400, "edxml_sender_mismatch")


# Credentials ---------------------------------------------------------------------------------


async def test_the_credentials_commands_create_rotate_list_and_revoke(axis: Axis) -> None:
    exchange = axis.exchange
    code, out, err = await exchange.cli(
        "vxp", "credentials", "create", "--unit", COMMUNE_B, "--system-id", "vxp.qlvb.moc-cay",
        "--name", "QLVB xã Mỏ Cày",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert set(created) == {"system_id", "secret"}
    assert created["system_id"] == "vxp.qlvb.moc-cay"
    client = Client(axis.base, created["system_id"], created["secret"])
    assert (await client.call("countReceiveEdoc")).ok

    stored = await exchange.fetch("SELECT * FROM vxp_systems WHERE id = $1", created["system_id"])
    assert created["secret"].encode() not in bytes(stored[0]["secret_sealed"])
    key = systems.key_path(exchange.settings)
    assert key.stat().st_mode & 0o777 == 0o600

    code, out, err = await exchange.cli("vxp", "credentials", "rotate", created["system_id"])
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["secret"] != created["secret"]
    (await client.call("countReceiveEdoc")).refused(401, "request_signature_invalid")
    client = Client(axis.base, created["system_id"], rotated["secret"])
    assert (await client.call("countReceiveEdoc")).ok

    code, out, err = await exchange.cli("vxp", "credentials", "list", "--json")
    assert code == 0, err
    [listed] = [s for s in json.loads(out) if s["id"] == created["system_id"]]
    assert (listed["units"], listed["name"]) == ([COMMUNE_B], "QLVB xã Mỏ Cày")
    assert listed["last_used_at"] is not None
    assert rotated["secret"] not in out

    code, out, err = await exchange.cli("vxp", "credentials", "revoke", created["system_id"])
    assert code == 0, err
    (await client.call("countReceiveEdoc")).refused(401, "system_unknown")
    code, out, err = await exchange.cli("vxp", "credentials", "rotate", created["system_id"])
    assert (code, json.loads(out)["found"]) == (1, False)

    code, _, err = await exchange.cli(
        "vxp", "credentials", "create", "--unit", COMMUNE_B, "--system-id", created["system_id"]
    )
    assert (code, "system_id_taken" in err) == (2, True)
    code, _, err = await exchange.cli("vxp", "credentials", "create", "--unit", "H62")
    assert (code, "organid_invalid" in err) == (2, True)
    audit = await exchange.fetch(
        "SELECT action FROM audit WHERE subject = $1 ORDER BY id",
        f"vxp-system:{created['system_id']}",
    )
    assert [a["action"] for a in audit] == [
        "vxp-system-create", "vxp-system-rotate", "vxp-system-revoke",
    ]  # fmt: skip


async def test_a_connector_holding_another_key_says_so_not_that_the_signature_is_wrong(
    axis: Axis,
) -> None:
    """Credentials made where the key file is another (an operator's machine the connector's
    key was never copied from): the system is told the service failed, the log says why."""
    elsewhere = systems.SealingKey(bytes(range(32)), axis.exchange.settings.keys_dir / "other")
    client = await axis.system(COMMUNE_B, key=elsewhere)
    answer = await client.call("countReceiveEdoc")
    answer.refused(503, "config_invalid")
    assert answer.body["ErrorCode"] == "50"
    assert "other" not in answer.body["ErrorDesc"]  # the key's path is for the log


async def test_a_system_with_one_unit_may_name_itself_as_from(axis: Axis) -> None:
    """Some deployed gateways send their system id as `from`."""
    client = await axis.system(DEPARTMENT, system_id="000.00.02.H62.qlvb")
    packet, _ = document(DEPARTMENT)
    sent = await client.send("000.00.02.H62.qlvb", packet, to=[COMMUNE_A])
    assert sent.ok, sent.body
    both = await axis.system(DEPARTMENT, PROVINCE)
    (await both.send(both.params["systemid"], packet, to=[COMMUNE_A])).refused(
        403, "unit_forbidden"
    )


# Vendors' packets ----------------------------------------------------------------------------


@needs_conformance
async def test_vendor_status_packets_answer_a_document(axis: Axis) -> None:
    """Real status packets of the VNPT SDK, their organs and document id made ours: each is
    understood and becomes the connector's status about the document it names."""
    province = await axis.system(PROVINCE)
    commune = await axis.system(COMMUNE_A)
    packet, document_id = document()
    sent = await province.send(PROVINCE, packet, to=[COMMUNE_A])
    assert sent.ok, sent.body

    async def received() -> bool:
        return sent.body["DocId"] in {e["docId"] for e in await commune.pending()}

    await _until(axis, received, "the document at the receiver")
    for name in ("status_acceptance_03", "status_assignment_04", "status_processing_05"):
        vendor = (CONFORMANCE / "vnpt-sdk" / f"{name}.edxml").read_bytes()
        ours = (
            vendor.replace(VENDOR_DOCUMENT, document_id.encode())
            .replace(b"000.00.00.G22", PROVINCE.encode())
            .replace(b"000.00.00.H41", COMMUNE_A.encode())
        )
        assert ours.endswith(CRLF)  # the file's own, kept: the client adds another
        answer = await commune.send(COMMUNE_A, ours, kind="status")
        assert answer.ok, (name, answer.body)

    async def heard() -> list[dict[str, Any]]:
        listing = await province.call("getSentEdocList", {"docId": sent.body["DocId"]})
        return [e for e in listing.body["data"] if e["receiveStatus"] == "05"]

    await _until(axis, heard, "05 at the sender")


@needs_conformance
async def test_a_vendor_document_is_taken_and_its_refusal_heard(axis: Axis) -> None:
    """The VNPT SDK's example document, its organs made ours, sent as its client sends it
    (the file's own final CRLF is the document's, the client's extra one is not, and the
    hash covers the former): taken, then refused by the router for its attachment, which is
    not base64; the sender's system hears why, in its sent list and its status list."""
    vendor = (CONFORMANCE / "vnpt-sdk" / "edoc.edxml").read_bytes()
    ours = vendor.replace(b"002.00.20.H13", PROVINCE.encode()).replace(
        b"000.00.15.H51", COMMUNE_B.encode()
    )
    assert ours.endswith(CRLF)
    province = await axis.system(PROVINCE)
    sent = await province.send(PROVINCE, ours)
    assert sent.ok, sent.body
    doc_id = sent.body["DocId"]

    async def refused() -> list[dict[str, Any]]:
        listing = await province.call("getSentEdocList", {"docId": doc_id})
        return [e for e in listing.body["data"] if e["sendStatus"] == "fail"]

    [state] = await _until(axis, refused, "the router's refusal at the sender")
    assert state["toCode"] == COMMUNE_B
    assert "base64" in state["sendStatusDesc"]
    router = axis.exchange.settings.router_id
    notices = [e for e in await province.pending("status") if e["from"] == router]
    assert "02" in {e["status"] for e in notices}
