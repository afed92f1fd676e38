"""Stage 4: the directory, as of the router's receive day (never the sender-written date).
The sender must be open; each recipient is open, or closed with a successor (redirected,
and the hop recorded), or refused alone.

A document whose every recipient is refused is refused as a whole.
"""

from __future__ import annotations

import dataclasses

from broker.directory import Directory
from broker.stages import Refusal
from broker.stages.authenticate import Authenticated
from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode
from schemas.envelope import EnvelopeBody

STAGE = "address"


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    requested: str
    delivered_to: str
    hops: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Addressed:
    authenticated: Authenticated
    routes: tuple[Route, ...]
    refused: tuple[tuple[str, Refusal], ...]


def address(authenticated: Authenticated, directory: Directory) -> Addressed | Refusal:
    body = authenticated.verified.body
    day = authenticated.received_at.date()
    try:
        sender = directory.resolve(body.sender, day)
    except DirectoryError as exc:
        return Refusal.of(STAGE, exc)
    if sender.redirected:
        return Refusal(
            STAGE,
            ReasonCode.UNIT_CLOSED,
            f"the sender {body.sender} closed; its successor "
            f"{sender.unit.organ_id} must send in its own name",
        )
    requested = body.recipients if isinstance(body, EnvelopeBody) else (body.recipient,)
    routes: list[Route] = []
    refused: list[tuple[str, Refusal]] = []
    for recipient in dict.fromkeys(requested):
        try:
            found = directory.resolve(recipient, day)
        except DirectoryError as exc:
            refused.append((recipient, Refusal.of(STAGE, exc)))
            continue
        routes.append(Route(recipient, found.unit.organ_id, found.hops))
    if not routes:
        return (
            refused[0][1]
            if refused
            else Refusal(STAGE, ReasonCode.UNIT_UNKNOWN, "the envelope names no recipient")
        )
    return Addressed(authenticated, tuple(routes), tuple(refused))
