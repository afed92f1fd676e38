"""A consumer batch cut into rounds the router can judge side by side.

Within a round, no record depends on another: each is judged against the ledger as it was
before the round, and all are written together. A record starts a new round when it
names the message id of an earlier record of the round, answers one (a status about it,
or about the same delivery as another status), or follows up a document its sender sent
in the round (a revoke right behind its document). What a record claims is read before
its signature is checked; a forger can only make rounds smaller, never merge two that
depend on each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from broker.stages import Incoming, Refusal
from broker.stages.decode import Decoded
from schemas import binding
from schemas.envelope import Body, StatusBody


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    incoming: Incoming
    decoded: Decoded | Refusal | Exception
    """The decode stage's answer, or what it raised (that record's internal error)."""
    claimed: Body | None
    """What the envelope says it is, unverified."""


def rounds(items: Iterable[Item]) -> list[list[Item]]:
    done: list[list[Item]] = []
    current: list[Item] = []
    touched: set[str] = set()
    senders: set[str] = set()
    for item in items:
        touches, follows_up, sender = _marks(item.claimed)
        if current and (touches & touched or (follows_up and sender in senders)):
            done.append(current)
            current, touched, senders = [], set(), set()
        current.append(item)
        touched |= touches
        if sender is not None:
            senders.add(sender)
    if current:
        done.append(current)
    return done


def _marks(body: Body | None) -> tuple[set[str], bool, str | None]:
    if body is None:
        return set(), False, None
    if isinstance(body, StatusBody):
        return {body.message_id, body.responds_to}, False, None
    return {body.message_id}, body.kind in binding.FOLLOW_UPS, body.sender
