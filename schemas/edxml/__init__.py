"""edXML (QCVN 102:2016/BTTTT): the typed model, a liberal parser and a strict writer."""

from schemas.edxml.model import (
    Attachment,
    Business,
    DocumentPacket,
    Packet,
    StatusCode,
    StatusPacket,
)
from schemas.edxml.parser import Limits, parse
from schemas.edxml.writer import write

__all__ = [
    "Attachment",
    "Business",
    "DocumentPacket",
    "Limits",
    "Packet",
    "StatusCode",
    "StatusPacket",
    "parse",
    "write",
]
