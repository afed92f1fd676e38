"""Stage 4: the directory, as of the router's receive day (never the sender-written date).
The sender must be open; each recipient is open, or closed with a successor (redirected,
and the hop recorded), or refused alone. A signer's certificate that names a unit behind a
gateway is that gateway's: every unit it names is behind that one gateway, so a certificate
issued for gateway A cannot sign as a unit behind gateway B, nor as one of this exchange.

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
from signing.certificates import Binding

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
    pinned = _pinned(authenticated, directory)
    if pinned is not None:
        return pinned
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


def _pinned(authenticated: Authenticated, directory: Directory) -> Refusal | None:
    """A certificate naming units on more than one side (this exchange, or a gateway) is
    refused, whichever of them it signs as."""
    named = Binding().units_of(authenticated.verified.chain.signer)
    sides = {u.gateway for n in named if (u := directory.units.get(n)) is not None}
    if len(sides) < 2:
        return None
    listed = ", ".join(sorted(g or "this exchange" for g in sides))
    return Refusal(
        STAGE,
        ReasonCode.CERTIFICATE_SPANS_GATEWAYS,
        f"the certificate {authenticated.verified.body.sender} signed with names units of "
        f"{listed}: a gateway's certificate names only the units behind it",
    )
