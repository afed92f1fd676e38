"""edXML packets the tests send: the fixture document, addressed as the test needs.

The router refuses a packet whose `From`, `To` or DocumentId disagrees with its envelope,
so a test that sends from or to other units than the fixture names writes them in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from schemas import edxml
from schemas.edxml.model import Organization
from tests.paths import FIXTURES

DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


def document(sender: str, to: Sequence[str], *, source: bytes = DOCUMENT) -> bytes:
    """The fixture packet from `sender` to `to`, its DocumentId made `sender`'s own."""
    packet = edxml.parse(source)
    assert isinstance(packet, edxml.DocumentPacket)
    _, _, rest = (packet.document_id or f"{sender},2026/11/20,1/T").partition(",")
    return edxml.write(
        dataclasses.replace(
            packet,
            from_=dataclasses.replace(packet.from_, organ_id=sender),
            to=tuple(Organization(organ_id=unit) for unit in to),
            document_id=f"{sender},{rest}",
        )
    )
