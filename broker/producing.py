"""The one place the router produces: a batch's records (copies for recipients, notices to
senders, dead letters) are built first, by pure code, then sent here together and awaited
together, after the ledger holds the batch's decisions and before its offsets commit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from kernel import kafka
from schemas.codec import Registry
from schemas.envelope import Endorsement
from signing import endorsement
from signing.identity import Identity


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    topic: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    endorsement: Endorsement | None = None
    """A copy's endorsement, still to be signed with its wave (`sealed`); a record that
    has one is not sent."""


def sealed(
    records: Sequence[Record], router: Identity, registry: Registry, *, waves: bool = True
) -> list[Record]:
    """The records, each copy's endorsement signed and in its headers: one signature for
    all of them (signing.endorsement.endorse_all), or without `waves` one each."""
    pending = [r.endorsement for r in records if r.endorsement is not None]
    batches = [pending] if waves else [[e] for e in pending]
    headers = iter([h for b in batches for h in endorsement.endorse_all(router, registry, b)])
    return [
        r
        if r.endorsement is None
        else dataclasses.replace(r, headers=(*r.headers, next(headers)), endorsement=None)
        for r in records
    ]


async def send_all(producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
    """Every send started in order (a partition keeps it), then all awaited at once."""
    if not records:
        return
    if any(r.endorsement is not None for r in records):
        raise ValueError("a copy without its signed endorsement is never sent")
    with kafka.mapped_errors("producing a batch failed"):
        pending = [
            await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
            for r in records
        ]
        await asyncio.gather(*pending)
