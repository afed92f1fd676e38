"""Review of the connector API's numbering and paging (issue 13 item 4): what a hostile or
unlucky input did to a numbered document, and where a poller lost an entry."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from lxml import etree

from connectors import listing, packing, registers
from kernel.errors import EdxmlError
from schemas import edxml
from schemas.edxml.model import NAMESPACE, Code, Organization

SENDER = "000.00.00.H62"
RECIPIENT = "000.00.01.H62"
NOW = datetime.datetime(2026, 11, 20, 2, 0, tzinfo=datetime.UTC)


def _unnumbered(extra: bytes = b"", *, at_root: bytes = b"") -> bytes:
    packet = edxml.DocumentPacket(
        from_=Organization(organ_id=SENDER),
        to=(Organization(organ_id=RECIPIENT),),
        code=Code(None, "UBND-VP"),
        subject="V/v thử",
    )
    root = etree.fromstring(edxml.write(packet))
    message = root.find(f".//{{{NAMESPACE}}}MessageHeader")
    assert message is not None
    if extra:
        message.find(f"{{{NAMESPACE}}}From").append(etree.fromstring(extra))  # type: ignore[union-attr]
    if at_root:
        root.append(etree.fromstring(at_root))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _body(data: bytes) -> Any:
    return packing.build_body(data, sender=SENDER, recipients=[RECIPIENT], now=NOW)


def test_numbering_keeps_what_the_model_does_not_name() -> None:
    # Re-writing the packet from the model dropped every element and attribute it does not
    # name: the receiver got another document than the agency's system produced.
    extra = '<v:Department xmlns:v="urn:vendor" v:code="7">Văn phòng</v:Department>'.encode()
    body = _body(_unnumbered(extra, at_root=b'<v:Trailer xmlns:v="urn:vendor">x</v:Trailer>'))
    numbered = packing.numbered(body, 5, datetime.date(2026, 11, 20))
    assert numbered is not None
    root = etree.fromstring(numbered.edxml)
    assert root.find(".//{urn:vendor}Department").get("{urn:vendor}code") == "7"  # type: ignore[union-attr]
    assert root.find("{urn:vendor}Trailer") is not None
    packet = edxml.parse(numbered.edxml)
    assert isinstance(packet, edxml.DocumentPacket)
    assert packet.code == Code("5", "UBND-VP")
    assert packet.document_id == numbered.document_id == f"{SENDER},2026/11/20,5/UBND-VP"


def test_numbering_refuses_a_signature_wherever_it_sits() -> None:
    # A Signature outside edXMLHeader (where the parser looks) was dropped silently.
    signature = (
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        b"<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    )
    body = _body(_unnumbered(at_root=signature))
    with pytest.raises(EdxmlError):
        packing.numbered(body, 5, datetime.date(2026, 11, 20))


def test_hostile_notation_cannot_name_another_organ() -> None:
    body = _body(_unnumbered().replace(b"UBND-VP", b"000.00.00.H99,2026/01/01,1"))
    numbered = packing.numbered(body, 5, datetime.date(2026, 11, 20))
    assert numbered is not None
    assert numbered.document_id is not None
    assert numbered.document_id.startswith(f"{SENDER},2026/11/20,5/")


class _Counters:
    """register_counters, as the statements `_next_number` runs see it."""

    def __init__(self, rows: dict[tuple[str, int, str], int]) -> None:
        self.rows = rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        if query.startswith("INSERT"):
            unit, year, register = args
            self.rows[unit, year, register] = self.rows.get((unit, year, register), 0) + 1
            return self.rows[unit, year, register]
        unit, register, year = args
        later = [y for (u, y, r) in self.rows if u == unit and r == register and y > year]
        return max(later, default=None)

    async def execute(self, query: str, *args: Any) -> str:
        unit, year, register = args
        self.rows[unit, year, register] -= 1
        return "UPDATE 1"


async def test_a_late_registration_goes_into_the_year_already_opened() -> None:
    # A send stamped 23:59:59 on 31 December that takes its number after the first entry of
    # the new year was listed would land behind every poller's cursor: never seen.
    counters = _Counters({(SENDER, 2026, "out"): 41, (SENDER, 2027, "out"): 1})
    conn: Any = counters
    assert await registers._next_number(conn, SENDER, 2026, "out") == (2027, 2)
    assert counters.rows == {(SENDER, 2026, "out"): 41, (SENDER, 2027, "out"): 2}
    assert await registers._next_number(conn, SENDER, 2027, "out") == (2027, 3)


class _Register:
    """One page's reads: what a first poll sees, and whether it waited for earlier years."""

    def __init__(self) -> None:
        self.locked: list[tuple[Any, ...]] = []

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [{"year": 2027, "number": 1}]

    async def execute(self, query: str, *args: Any) -> str:
        self.locked.append(args)
        return "SELECT 0"

    def transaction(self) -> Any:
        class _Transaction:
            async def __aenter__(self) -> None:
                return None

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Transaction()


async def test_a_first_page_waits_for_earlier_years_in_flight() -> None:
    # A first poll (no cursor) that saw only 2027 entries did not wait for a 2026 entry still
    # being registered, and its cursor passed it for good.
    conn: Any = _Register()
    page = await listing.page(conn, SENDER, listing.Cursor("in"))
    assert [e["number"] for e in page.entries] == [1]
    assert conn.locked == [(SENDER, "in", 0, 2027)]
