"""Documents as agencies send them, signed in advance (signing is the sending connector's
cost, not the router's): an edXML công văn whose subject and header run to a few hundred
characters, an 18 KiB PDF beside it (one page of text and a scanned image, so it is a real
PDF the policy stage opens and reads), the envelope signed by the sender's unit key.

Each document is unique (its number, DocumentId, PDF text and message id), so neither the
ledger's duplicate check nor clamd's cache of clean files makes a repeat cheap. Signing runs
in a process pool, one worker per CPU, because a full run signs tens of thousands.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from connectors import packing
from lienthong.samples import minimal_pdf
from schemas import codec
from signing.identity import Identity

PDF_BYTES = 18 * 1024
SENDERS = [f"000.00.{i:02d}.H98" for i in range(1, 21)]
NORMAL, URGENT = 0, (1, 2, 3)
"""edXML priorities: thường; khẩn, thượng khẩn, hỏa tốc."""
SUBJECT = (
    "V/v triển khai kế hoạch chuyển đổi số năm 2026 trên địa bàn tỉnh: hướng dẫn các sở, ban, "
    "ngành và Ủy ban nhân dân các huyện, thị xã, thành phố tổ chức gửi, nhận văn bản điện tử "
    "qua Trục liên thông văn bản quốc gia, cập nhật danh mục mã định danh cơ quan, đơn vị và "
    "báo cáo kết quả thực hiện trước ngày 15 hằng tháng (văn bản số {number})"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Signed:
    """One record ready for the submit topic, and what the bench matches it by later."""

    key: bytes
    value: bytes
    headers: codec.Headers
    message_id: str
    to: str
    priority: int


def unit_ids(count: int) -> list[str]:
    """`count` receiving units' OrganIds (up to 10,000), one unit topic each."""
    return [f"{i // 100:03d}.{i % 100:02d}.00.H99" for i in range(count)]


def agency_pdf(number: int, size: int = PDF_BYTES) -> bytes:
    """A one-page PDF of `size` bytes at most (a few bytes under): a line of text naming the
    document, and a scanned image that makes up the rest, as a scanned signed page does."""
    text = f"UBND TINH - Cong van so {number}/UBND-VP ve chuyen doi so nam 2026"
    bare = len(minimal_pdf(text, scan_side=1))
    side = math.isqrt(size - bare)
    while side > 1 and len(pdf := minimal_pdf(text, scan_side=side)) > size:
        side -= 1
    return pdf


def _edxml(sender: str, to: str, number: int, priority: int) -> bytes:
    return packing.edxml_from_fields(
        sender,
        {
            "subject": SUBJECT.format(number=number),
            "organ_name": f"Ủy ban nhân dân tỉnh, Văn phòng {sender}",
            "type": 1,
            "type_name": "Công văn",
            "code_number": number,
            "code_notation": "UBND-VP",
            "place": "Vĩnh Long",
            "promulgation_date": datetime.date.today().isoformat(),
            "competence": "KT. CHỦ TỊCH",
            "signer_position": "Phó Chủ tịch Ủy ban nhân dân tỉnh",
            "signer_name": "Nguyễn Văn An",
            "priority": priority,
        },
        [to],
    )


_identities: dict[str, Identity] = {}
_registry: codec.Registry | None = None


def _load(pki_dir: Path) -> None:
    """A signing worker's start: the senders' keys and the Avro schemas, once."""
    global _registry
    _registry = codec.Registry.load()
    for sender in SENDERS:
        _identities[sender] = Identity.load(pki_dir / "units" / sender, sender)


def _sign(job: tuple[int, str, int]) -> Signed:
    number, to, priority = job
    assert _registry is not None
    sender = SENDERS[number % len(SENDERS)]
    pdf = agency_pdf(number)
    body = packing.build_body(
        _edxml(sender, to, number, priority),
        sender=sender,
        recipients=[to],
        attachments=[packing.attachment_of(f"cong-van-{number}.pdf", "application/pdf", pdf)],
    )
    headers, value = _identities[sender].seal(_registry, body)
    return Signed(sender.encode(), value, headers, body.message_id, to, priority)


class Signer:
    """A pool of signing processes over one PKI; numbers are unique for its whole life, so
    every document it signs has a DocumentId of its own."""

    def __init__(self, pki_dir: Path) -> None:
        self.pool = ProcessPoolExecutor(os.cpu_count() or 1, initializer=_load, initargs=(pki_dir,))
        self.next_number = 1

    def sign(
        self, count: int, recipients: Sequence[str], *, priority: int | Sequence[int] = NORMAL
    ) -> list[Signed]:
        """`count` documents, 20 senders in turn, each to a random unit of `recipients`;
        `priority` one value or a cycle of them."""
        rng = random.Random(self.next_number)
        cycle = [priority] if isinstance(priority, int) else list(priority)
        jobs = [
            (self.next_number + i, rng.choice(recipients), cycle[i % len(cycle)])
            for i in range(count)
        ]
        self.next_number += count
        return list(self.pool.map(_sign, jobs, chunksize=64))

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
