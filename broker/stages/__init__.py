"""The router's verification pipeline, one small module per stage, in this order:

    decode        the record's bytes -> a SignedEnvelope        (envelope_*, schema_*)
    authenticate  signature, chain, validity, CRL, unit binding, time window, all as of the
                  router's receive time  (signature_*, certificate_*, envelope_too_old, ...)
    entitle       the edXML agrees with the envelope; a status comes from whom it may and
                  moves its delivery forward  (edxml_*_mismatch, status_*, message_id_*)
    address       sender open; each recipient open or redirected (unit_*, organid_*)
    policy        attachments, malware (clamd), Articles 3/4/5.3 rules, PDF signatures:
                  reject, hold, flag or paper  (attachment_*, malware_*, policy_*, pdf_*)
    route         one produce per recipient topic

Each stage returns its richer value or a `Refusal`, the one verdict type, which names the
stage and the reason code. The service (broker/service.py) turns a refusal into a status 02
for the sender and a dead letter, and records every outcome in the ledger (broker/ledger.py).
"""

from __future__ import annotations

import dataclasses
import hashlib

from kernel.errors import Rejected
from kernel.reasons import ReasonCode


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    stage: str
    reason: ReasonCode
    message: str

    @classmethod
    def of(cls, stage: str, error: Rejected) -> Refusal:
        return cls(stage, error.reason, error.message)


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """A Kafka record as it arrived: kept whole so a refusal can dead-letter it verbatim."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    sha256: bytes = dataclasses.field(init=False, repr=False, compare=False)
    """The value's SHA-256, taken once: the ledger's replay check, the message's row and
    each copy's endorsement all name the envelope by it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.value).digest())
