"""Stage 2: the signature, the chain to the Government CA roots, and the sender binding.

The record key (the sender the connector published as) must match the body's sender and
the signer's certificate, so a unit cannot publish in another unit's name.
"""

from __future__ import annotations

import dataclasses

from broker.stages import Refusal
from broker.stages.decode import Decoded
from kernel.errors import Rejected
from schemas import codec
from signing.certificates import TrustStore
from signing.envelope import Verified, verify

STAGE = "authenticate"


@dataclasses.dataclass(frozen=True, slots=True)
class Authenticated:
    decoded: Decoded
    verified: Verified


def authenticate(
    decoded: Decoded, trust: TrustStore, registry: codec.Registry
) -> Authenticated | Refusal:
    key = decoded.incoming.key
    try:
        verified = verify(
            decoded.envelope,
            trust=trust,
            registry=registry,
            expected_sender=key.decode("utf-8", "replace") if key else None,
        )
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    return Authenticated(decoded, verified)
