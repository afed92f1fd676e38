"""The one place the router produces: a batch's records (copies for recipients, notices to
senders, dead letters) are built first, by pure code, then sent here together and awaited
together, after the ledger holds the batch's decisions and before its offsets commit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from kernel import kafka


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    topic: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


async def send_all(producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
    """Every send started in order (a partition keeps it), then all awaited at once."""
    if not records:
        return
    with kafka.mapped_errors("producing a batch failed"):
        pending = [
            await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
            for r in records
        ]
        await asyncio.gather(*pending)
