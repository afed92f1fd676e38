"""Stage 2: the signature, the chain to the Government CA roots, the sender binding, and
the time.

The record key (the sender the connector published as) must match the body's sender and
the signer's certificate, so a unit cannot publish in another unit's name.

There is no trusted timestamp, so the signing time is whatever the sender wrote: the chain
(validity and revocation) is judged at the router's own receive time, and the envelope's
`created_at` must fall in a window around it. An RFC 3161 timestamp token over the
signature would let the chain be judged at the stamped time instead (see README).
"""

from __future__ import annotations

import dataclasses
import datetime

from broker.stages import Refusal
from broker.stages.decode import Decoded
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import codec
from signing.certificates import TrustStore
from signing.envelope import Verified, verify

STAGE = "authenticate"


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """How far `created_at` may lie ahead of the receive time, and how far behind it."""

    skew: datetime.timedelta = datetime.timedelta(minutes=5)
    age: datetime.timedelta = datetime.timedelta(days=7)


@dataclasses.dataclass(frozen=True, slots=True)
class Authenticated:
    decoded: Decoded
    verified: Verified
    received_at: datetime.datetime


def authenticate(
    decoded: Decoded,
    trust: TrustStore,
    registry: codec.Registry,
    *,
    received_at: datetime.datetime,
) -> Authenticated | Refusal:
    key = decoded.incoming.key
    try:
        verified = verify(
            decoded.envelope,
            trust=trust,
            registry=registry,
            expected_sender=key.decode("utf-8", "replace") if key else None,
            at=received_at,
        )
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    return Authenticated(decoded, verified, received_at)


def in_window(authenticated: Authenticated, window: Window) -> Authenticated | Refusal:
    """The signing time the sender wrote, against the receive time (the signature held, so
    a refusal here is told to the sender)."""
    created, received_at = authenticated.verified.body.created_at, authenticated.received_at
    if created > received_at + window.skew:
        return Refusal(
            STAGE,
            ReasonCode.ENVELOPE_FROM_FUTURE,
            f"made {created:%Y-%m-%d %H:%M:%S} UTC, received {received_at:%Y-%m-%d %H:%M:%S} "
            f"UTC; at most {window.skew} ahead is accepted",
        )
    if created < received_at - window.age:
        return Refusal(
            STAGE,
            ReasonCode.ENVELOPE_TOO_OLD,
            f"made {created:%Y-%m-%d %H:%M:%S} UTC, received {received_at:%Y-%m-%d %H:%M:%S} "
            f"UTC; at most {window.age} old is accepted",
        )
    return authenticated
