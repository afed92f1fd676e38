"""Stage 6: one produce per recipient, of the sender's envelope exactly as it was signed.

The router never re-signs or re-encodes a document: the receiver verifies the sender's own
signature. What the router adds travels in headers, and its signed endorsement
(`signing.endorsement`) covers all of it. Of the sender's headers only the schema
fingerprint travels on: anything else a sender set (a paper-copy flag, a redirect, a blob
of any size) never reaches a receiver.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from broker.stages.address import Addressed
from kernel import kafka
from kernel.topics import Topics
from schemas.codec import (
    FINGERPRINT_HEADER,
    HOPS_HEADER,
    PAPER_HEADER,
    REQUESTED_HEADER,
    Registry,
)
from signing.endorsement import endorse
from signing.identity import Identity


async def route(
    addressed: Addressed,
    producer: AIOKafkaProducer,
    topics: Topics,
    router: Identity,
    registry: Registry,
    *,
    paper_copy_required: bool = False,
) -> None:
    incoming = addressed.authenticated.decoded.incoming
    body = addressed.authenticated.verified.body
    passed = [(k, v) for k, v in incoming.headers if k == FINGERPRINT_HEADER][:1]
    pending = []
    with kafka.mapped_errors("routing to a unit topic failed"):
        for target in addressed.routes:
            headers = [
                *passed,
                (REQUESTED_HEADER, target.requested.encode()),
                *([(HOPS_HEADER, ",".join(target.hops).encode())] if target.hops else []),
                *([(PAPER_HEADER, b"1")] if paper_copy_required else []),
                endorse(
                    router, registry, incoming.value, message_id=body.message_id,
                    delivered_to=target.delivered_to, requested=target.requested,
                    redirected_from=tuple(target.hops), paper_copy_required=paper_copy_required,
                    received_at=addressed.authenticated.received_at,
                ),
            ]  # fmt: skip
            pending.append(
                await producer.send(
                    topics.unit(target.delivered_to),
                    incoming.value,
                    key=body.message_id.encode(),
                    headers=headers,
                )
            )
        await asyncio.gather(*pending)
