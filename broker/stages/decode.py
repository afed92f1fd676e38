"""Stage 1: the record's bytes become a SignedEnvelope, by the fingerprint in its header."""

from __future__ import annotations

import dataclasses

from broker.stages import Incoming, Refusal
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import codec
from schemas.envelope import SignedEnvelope, decode_signed

STAGE = "decode"


@dataclasses.dataclass(frozen=True, slots=True)
class Decoded:
    incoming: Incoming
    envelope: SignedEnvelope


def decode(incoming: Incoming, registry: codec.Registry, max_bytes: int) -> Decoded | Refusal:
    if len(incoming.value) > max_bytes:
        return Refusal(
            STAGE,
            ReasonCode.ENVELOPE_TOO_LARGE,
            f"the envelope is {len(incoming.value)} bytes; the limit is {max_bytes}",
        )
    try:
        fingerprint = codec.fingerprint_from(list(incoming.headers))
        envelope = decode_signed(registry, fingerprint, incoming.value)
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    return Decoded(incoming, envelope)
