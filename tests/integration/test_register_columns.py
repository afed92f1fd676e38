"""Decree 30's register columns in the real PostgreSQL: migration 0022 backfills them from
the edXML already stored, the registers fill them from the header they enter, the outgoing
register numbers a document that comes without a number, and a revoke marks what it revokes."""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from connectors import packing, registers
from connectors.registers import Outgoing
from kernel import database
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from lienthong.devstack.stack import Endpoints
from schemas import edxml
from schemas.codec import Registry
from schemas.edxml.model import Business, Code, PromulgationInfo, SignerInfo
from schemas.envelope import EnvelopeBody
from signing.identity import Identity
from signing.testpki import TestPki
from tests.paths import FIXTURES

pytestmark = pytest.mark.postgres
PROVINCE, COMMUNE = "000.00.00.H62", "000.02.00.H62"
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()
SENT = datetime.datetime(2026, 11, 20, 1, 30, tzinfo=datetime.UTC)
FIXTURE_COLUMNS = {
    "code_number": "125",
    "code_notation": "UBND-VP",
    "promulgated_on": datetime.date(2026, 11, 20),
    "document_type": "Công văn",
    "signer": "Nguyễn Văn A",
    "due_date": None,
    "author": "UBND tỉnh Vĩnh Long",
}
NO_COLUMNS = dict.fromkeys(FIXTURE_COLUMNS)
# Another vendor's packet: a namespace prefix, dd/MM/yyyy and dd-MM-yyyy dates, escapes.
PREFIXED = """<?xml version="1.0" encoding="UTF-8"?>
<ed:edXML xmlns:ed="http://www.mic.gov.vn/TBT/QCVN_102_2016"><ed:edXMLEnvelope><ed:edXMLHeader>
<ed:MessageHeader><ed:From><ed:OrganId>000.00.00.H62</ed:OrganId>
<ed:OrganName> Sở Tư pháp &amp; Văn phòng </ed:OrganName></ed:From>
<ed:Code><ed:CodeNumber>07</ed:CodeNumber><ed:CodeNotation>QĐ-STP</ed:CodeNotation></ed:Code>
<ed:PromulgationInfo><ed:PromulgationDate>05/12/2026</ed:PromulgationDate></ed:PromulgationInfo>
<ed:SignerInfo><ed:FullName>{signer}</ed:FullName></ed:SignerInfo>
<ed:DueDate>31-12-2026</ed:DueDate></ed:MessageHeader></ed:edXMLHeader></ed:edXMLEnvelope>
</ed:edXML>""".format(signer="Đ" * 400).encode()
PREFIXED_COLUMNS = {
    "code_number": "07",
    "code_notation": "QĐ-STP",
    "promulgated_on": datetime.date(2026, 12, 5),
    "document_type": None,
    "signer": "Đ" * registers.LIMITS["signer"],
    "due_date": datetime.date(2026, 12, 31),
    "author": "Sở Tư pháp & Văn phòng",
}
COLUMNS = ", ".join(FIXTURE_COLUMNS)


def _written(**changes: object) -> bytes:
    packet = edxml.parse(DOCUMENT)
    assert isinstance(packet, edxml.DocumentPacket)
    return edxml.write(dataclasses.replace(packet, **changes))  # type: ignore[arg-type]


def _body(edxml_bytes: bytes) -> EnvelopeBody:
    return packing.build_body(edxml_bytes, sender=PROVINCE, recipients=[COMMUNE], now=SENT)


def _identity(pki: TestPki, unit: str = PROVINCE) -> Identity:
    issued = pki.unit(unit)
    return Identity(unit, issued.key, issued.chain)


def _receipt() -> tuple[str, Outgoing]:
    receipt_id = str(uuid.uuid4())
    return receipt_id, Outgoing("submit", b"k", b"receipt", [])


async def _columns(db: asyncpg.Connection, table: str, message_id: str) -> dict[str, object]:
    row = await db.fetchrow(
        f"SELECT {COLUMNS} FROM {table} WHERE message_id = $1",  # names are this module's
        message_id,
    )
    assert row is not None
    return dict(row)


@pytest.fixture
async def before_0022(services: Endpoints, tmp_path: Path) -> AsyncIterator[asyncpg.Connection]:
    """A schema migrated up to 0021 (registers without the new columns), as the owner."""
    for path in sorted(database.MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < 22:
            shutil.copy(path, tmp_path / path.name)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    dsn = services.database_url.reveal()
    admin = await database.connect(dsn)
    try:
        await database.migrate(admin, schema=schema, directory=tmp_path)
        conn = await database.connect(dsn, schema=schema)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def _stored_incoming(conn: asyncpg.Connection, number: int, packet: bytes) -> str:
    message_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender, sent_at,"
        " edxml) VALUES ($1, 2026, $2, $3, 'document', $4, $5, $6)",
        COMMUNE, number, message_id, PROVINCE, SENT, packet,
    )  # fmt: skip
    return message_id


async def _stored_outgoing(conn: asyncpg.Connection, number: int, envelope: bytes) -> str:
    message_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO outgoing_register (unit, year, number, message_id, kind, recipients,"
        " created_at) VALUES ($1, 2026, $2, $3, 'document', $4, $5)",
        PROVINCE, number, message_id, [COMMUNE], SENT,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO outbox (message_id, unit, topic, key, value, headers)"
        " VALUES ($1, $2, 'submit', $3, $4, '[]'::jsonb)",
        message_id, PROVINCE, PROVINCE.encode(), envelope,
    )  # fmt: skip
    return message_id


async def test_the_migration_backfills_what_the_stored_edxml_says(
    before_0022: asyncpg.Connection, services: Endpoints, pki: TestPki, registry: Registry
) -> None:
    conn = before_0022
    incoming = {
        await _stored_incoming(conn, 1, DOCUMENT): FIXTURE_COLUMNS,
        await _stored_incoming(conn, 2, PREFIXED): PREFIXED_COLUMNS,
        await _stored_incoming(conn, 3, b"\xff\xfe not XML at all <"): NO_COLUMNS,
        await _stored_incoming(conn, 4, b"<other><Code>1</Code></other>"): NO_COLUMNS,
    }
    identity = _identity(pki)
    sealed = identity.seal(registry, _body(_written(due_date=datetime.date(2027, 1, 15))))[1]
    with_attachment = dataclasses.replace(
        _body(DOCUMENT),
        recipients=(COMMUNE, "000.03.00.H62"),
        attachments=(packing.attachment_of("a.txt", "text/plain", b"x" * 300),),
    )
    outgoing = {
        await _stored_outgoing(conn, 1, sealed): {
            **FIXTURE_COLUMNS,
            "due_date": datetime.date(2027, 1, 15),
        },
        await _stored_outgoing(conn, 2, identity.seal(registry, with_attachment)[1]): (
            FIXTURE_COLUMNS
        ),
        await _stored_outgoing(conn, 3, b"\x00" * 8 + sealed[8:]): NO_COLUMNS,  # unknown schema
        await _stored_outgoing(conn, 4, sealed[:40]): NO_COLUMNS,  # cut short
    }

    admin = await database.connect(services.database_url.reveal())
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        assert 22 in await database.migrate(admin, schema=schema)
    finally:
        await admin.close()

    for message_id, expected in incoming.items():
        assert await _columns(conn, "incoming_register", message_id) == expected
    for message_id, expected in outgoing.items():
        assert await _columns(conn, "outgoing_register", message_id) == expected
    assert await conn.fetchval("SELECT count(*) FROM incoming_register WHERE revoked_at IS NULL")
    indexes = {
        row["indexdef"].split(" USING ")[1]
        for row in await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename IN ('incoming_register', 'outgoing_register')"
        )
    }
    for wanted in (
        "btree (unit, code_notation)", "btree (unit, code_number)", "btree (unit, received_at)",
        "btree (unit, created_at)",
    ):  # fmt: skip
        assert wanted in indexes


async def test_registering_fills_the_columns_bounded(
    db: asyncpg.Connection, pki: TestPki, registry: Registry
) -> None:
    hostile = _written(
        code=Code("9" * 100, "Đ" * 500),
        signer_info=SignerInfo(full_name="  Trần Thị B  "),
        promulgation_info=PromulgationInfo("Vĩnh Long", "not a date"),
        due_date=datetime.date(2026, 12, 1),
    )
    sent = _body(hostile)
    seal = registers.sealer(_identity(pki), registry, "submit", limit=10**6, threshold=10**5)
    _, number = await registers.register_numbered(db, sent, "V/v", seal)
    expected = {
        **FIXTURE_COLUMNS,
        "code_number": "9" * registers.LIMITS["code_number"],
        "code_notation": "Đ" * registers.LIMITS["code_notation"],
        "promulgated_on": None,
        "signer": "Trần Thị B",
        "due_date": datetime.date(2026, 12, 1),
    }
    assert number == 1
    assert await _columns(db, "outgoing_register", sent.message_id) == expected
    received = dataclasses.replace(sent, message_id=str(uuid.uuid4()))
    assert await registers.register_incoming(
        db, COMMUNE, received, subject="V/v", redirected_from=None, receipt=_receipt(),
        received_at=SENT,
    ) == (1, True)  # fmt: skip
    assert await _columns(db, "incoming_register", received.message_id) == expected


async def test_the_register_numbers_a_document_that_comes_without_one(
    db: asyncpg.Connection, pki: TestPki, registry: Registry
) -> None:
    seal = registers.sealer(_identity(pki), registry, "submit", limit=10**6, threshold=10**5)
    unnumbered = _body(_written(code=Code(None, "UBND-VP"), document_id=None))
    assert unnumbered.document_id is None

    # Refused while sealing (too large): the number is given back.
    too_small = registers.sealer(_identity(pki), registry, "submit", limit=100, threshold=50)
    with pytest.raises(Rejected) as refused:
        await registers.register_numbered(db, unnumbered, "V/v", too_small)
    assert refused.value.reason is ReasonCode.ENVELOPE_TOO_LARGE

    body, number = await registers.register_numbered(db, unnumbered, "V/v", seal)
    assert number == 1
    packet = edxml.parse(body.edxml)
    assert isinstance(packet, edxml.DocumentPacket)
    assert packet.code == Code("1", "UBND-VP")
    assert body.document_id == packet.document_id == f"{PROVINCE},2026/11/20,1/UBND-VP"
    assert (body.message_id, body.created_at) == (unnumbered.message_id, unnumbered.created_at)
    entry = await registers.outgoing_entry(db, PROVINCE, body.message_id)
    assert entry is not None
    assert entry["document_id"] == body.document_id
    assert (await _columns(db, "outgoing_register", body.message_id))["code_number"] == "1"
    queued = await db.fetchval("SELECT value FROM outbox WHERE message_id = $1", body.message_id)
    assert body.edxml in queued  # the envelope queued is the numbered one

    # Numbered by the unit's own system: kept as it is, the register adopting its Số.
    numbered = _body(DOCUMENT)
    kept, number = await registers.register_numbered(db, numbered, "V/v", seal)
    assert (kept, number) == (numbered, 2)
    assert (await _columns(db, "outgoing_register", kept.message_id))["code_number"] == "125"

    # Unnumbered, without a notation, nor a date: numbered and dated the day it is sent.
    bare = _body(_written(code=None, document_id=None, promulgation_info=None))
    bare_sent, number = await registers.register_numbered(db, bare, None, seal)
    assert bare_sent.document_id == f"{PROVINCE},2026/11/20,3"
    assert (await _columns(db, "outgoing_register", bare.message_id))["promulgated_on"] == (
        datetime.date(2026, 11, 20)
    )

    # Unnumbered but carrying an XML signature: refused, no number used.
    signed = _body(_written(code=None, document_id=None, signature=b"<Signature/>"))
    with pytest.raises(Rejected) as refused:
        await registers.register_numbered(db, signed, "V/v", seal)
    assert refused.value.reason is ReasonCode.EDXML_INVALID_VALUE
    follow = _body(_written(code=None, document_id=None))
    assert (await registers.register_numbered(db, follow, None, seal))[1] == 4


async def test_a_revoke_marks_what_it_revokes(db: asyncpg.Connection) -> None:
    async def receive(packet: bytes) -> str:
        body = _body(packet)
        await registers.register_incoming(
            db, COMMUNE, body, subject=None, redirected_from=None, receipt=_receipt(),
            received_at=SENT,
        )  # fmt: skip
        return body.message_id

    document_id = f"{PROVINCE},2026/11/20,125/UBND-VP"
    original = await receive(DOCUMENT)
    update = await receive(_written(business=Business(business_doc_type=2)))
    other = await receive(_written(document_id=f"{PROVINCE},2026/11/20,126/UBND-VP"))
    revoked_at = SENT + datetime.timedelta(hours=2)
    revoke_packet = _written(
        document_id=None,
        code=None,
        business=Business(document_id=document_id, business_doc_type=1),
    )
    revoke_body = dataclasses.replace(_body(revoke_packet), created_at=revoked_at)
    assert revoke_body.kind == "revoke"
    await registers.register_incoming(
        db, COMMUNE, revoke_body, subject=None, redirected_from=None, receipt=_receipt(),
        received_at=revoked_at,
    )  # fmt: skip
    rows = {
        row["message_id"]: (row["revoked_at"], row["status"])
        for row in await db.fetch("SELECT message_id, revoked_at, status FROM incoming_register")
    }
    assert rows == {
        original: (revoked_at, "01"),
        update: (revoked_at, "01"),
        other: (None, "01"),
        revoke_body.message_id: (None, "01"),
    }
