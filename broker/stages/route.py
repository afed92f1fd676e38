"""Stage 6: one record per recipient, of the sender's envelope exactly as it was signed.

The router never re-signs or re-encodes a document: the receiver verifies the sender's own
signature. What the router adds travels in headers, and its signed endorsement
(`signing.endorsement`) covers all of it. Of the sender's headers only the schema
fingerprint travels on: anything else a sender set (a paper-copy flag, a redirect, a blob
of any size) never reaches a receiver.
"""

from __future__ import annotations

from broker.producing import Record
from broker.stages.address import Addressed
from kernel.topics import Topics
from schemas.codec import FINGERPRINT_HEADER, HOPS_HEADER, PAPER_HEADER, REQUESTED_HEADER
from signing.endorsement import endorsement_of
from signing.identity import Identity


def route(
    addressed: Addressed,
    topics: Topics,
    router: Identity,
    *,
    paper_copy_required: bool = False,
) -> list[Record]:
    """The copies to produce, each with its endorsement to sign with the wave it goes out
    in (`broker.producing.sealed`); `broker.producing` sends them."""
    incoming = addressed.authenticated.decoded.incoming
    body = addressed.authenticated.verified.body
    passed = [(k, v) for k, v in incoming.headers if k == FINGERPRINT_HEADER][:1]
    records = []
    for target in addressed.routes:
        headers = [
            *passed,
            (REQUESTED_HEADER, target.requested.encode()),
            *([(HOPS_HEADER, ",".join(target.hops).encode())] if target.hops else []),
            *([(PAPER_HEADER, b"1")] if paper_copy_required else []),
        ]
        endorsement = endorsement_of(
            router, incoming.sha256, message_id=body.message_id,
            delivered_to=target.delivered_to, requested=target.requested,
            redirected_from=tuple(target.hops), paper_copy_required=paper_copy_required,
            received_at=addressed.authenticated.received_at,
        )  # fmt: skip
        records.append(
            Record(topics.unit(target.delivered_to), incoming.value,
                   key=body.message_id.encode(), headers=tuple(headers),
                   endorsement=endorsement)
        )  # fmt: skip
    return records
