"""Stage 4: one produce per recipient, of the sender's envelope exactly as it was signed.

The router never re-signs or re-encodes a document: the receiver verifies the sender's own
signature. What the router adds (the redirect hops) travels in Kafka headers.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from broker.stages.address import Addressed
from kernel import kafka
from kernel.topics import Topics
from schemas.codec import HOPS_HEADER, PAPER_HEADER, REQUESTED_HEADER


async def route(
    addressed: Addressed,
    producer: AIOKafkaProducer,
    topics: Topics,
    *,
    paper_copy_required: bool = False,
) -> None:
    incoming = addressed.authenticated.decoded.incoming
    body = addressed.authenticated.verified.body
    pending = []
    with kafka.mapped_errors("routing to a unit topic failed"):
        for target in addressed.routes:
            headers = [
                *incoming.headers,
                (REQUESTED_HEADER, target.requested.encode()),
                *([(HOPS_HEADER, ",".join(target.hops).encode())] if target.hops else []),
                *([(PAPER_HEADER, b"1")] if paper_copy_required else []),
            ]
            pending.append(
                await producer.send(
                    topics.unit(target.delivered_to),
                    incoming.value,
                    key=body.message_id.encode(),
                    headers=headers,
                )
            )
        await asyncio.gather(*pending)
