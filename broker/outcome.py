"""What became of one record: the single value the router's stages end in.

An outcome carries everything its record causes, decided before any of it is done: the
ledger rows (`ledger.Writes`), the records to produce (`producing.Record`), the message to
mark routed once its copies are on Kafka, and what to log and count. The service writes a
batch's outcomes in one transaction, produces them together, then commits the offsets.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from collections.abc import Callable

from broker.ledger import Writes
from broker.producing import Record
from broker.stages import Incoming, Refusal
from kernel.topics import Topics
from schemas import codec
from schemas.envelope import DeadLetter, Header, encode

DEAD_LETTER_MARGIN = 64 * 1024
"""Room left in the topic's record limit for the dead letter's own fields and batching."""
MAX_REASON = 2000
"""Characters of a refusal's text a dead letter or notice carries: a sender chooses some of
that text (ids it wrote), and it must never make the record too large to produce."""
_DEAD_LETTERS = uuid.UUID("8a1c6f4e-52a4-4f0e-9d8e-3b1f0d6c2a71")


class Verdict(enum.StrEnum):
    ROUTED = "routed"
    REJECTED = "rejected"
    HELD = "held"
    DUPLICATE = "duplicate"


@dataclasses.dataclass(slots=True)
class Outcome:
    incoming: Incoming
    verdict: Verdict
    writes: Writes = dataclasses.field(default_factory=Writes)
    records: list[Record] = dataclasses.field(default_factory=list)
    routed: str | None = None
    """The message to mark routed once `records` are on Kafka."""
    refusal: Refusal | None = None
    report: Callable[[], None] = lambda: None
    """Its log line and metrics, emitted once the batch is done."""

    def __str__(self) -> str:
        if self.refusal is not None:
            return f"{self.verdict}:{self.refusal.reason.value}"
        return str(self.verdict)


def dead_letter(
    registry: codec.Registry,
    topics: Topics,
    incoming: Incoming,
    refusal: Refusal,
    message_id: str | None,
) -> Record:
    """The record kept on the dead-letter topic. Its id is derived from the record's place,
    so a batch produced again after a crash repeats the same dead letter, recognisably.
    One too large for the topic goes without its original, key and headers, which the
    ledger's dead_letters row keeps whole."""
    letter = DeadLetter(
        dead_letter_id=str(
            uuid.uuid5(_DEAD_LETTERS, f"{incoming.topic}/{incoming.partition}@{incoming.offset}")
        ),
        received_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
        topic=incoming.topic,
        partition=incoming.partition,
        offset=incoming.offset,
        original=incoming.value,
        stage=refusal.stage,
        reason_code=refusal.reason.value,
        reason=refusal.message[:MAX_REASON],
        key=incoming.key,
        headers=tuple(Header(k, v) for k, v in incoming.headers),
    )
    fingerprint, value = encode(registry, letter)
    if len(value) > topics.max_message_bytes - DEAD_LETTER_MARGIN:
        letter = dataclasses.replace(
            letter, original=b"", headers=(), key=None,
            reason=f"{letter.reason} [original, key and headers too large for this topic: "
            "kept whole in the ledger's dead_letters table]",
        )  # fmt: skip
        fingerprint, value = encode(registry, letter)
    return Record(
        topics.deadletter,
        value,
        key=(message_id or "").encode() or None,
        headers=tuple(codec.fingerprint_header(fingerprint)),
    )
