"""Stage 5: attachments in general, malware, the content policy, PDF signatures.

Attachments, carried beside the edXML or embedded in it, must be of a carried type,
within size, equal to their declared hash, and PDFs must open unencrypted. Those carried
by reference are fetched from the claim-check store into a private spool, hashed on the
way, and screened from there (kernel.claims).
Then the document is screened (broker/policy/screening.py): `reject`
refuses the envelope (a status 02 naming the rule), `hold` keeps it for an operator's
review, `flag` routes it with the decision recorded, and `paper` marks its deliveries
paper_copy_required. A document an operator has released is not held again.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from broker.directory.model import Directory
from broker.policy import attachments, malware
from broker.policy.check import File
from broker.policy.rules import Decision, Parties, Policy
from broker.policy.screening import screen_document
from broker.stages import Refusal
from broker.stages.address import Addressed
from kernel import claims as claims_module
from kernel.budget import Workers
from kernel.claims import Claims
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import edxml
from schemas.envelope import AttachmentRef, EnvelopeBody
from signing.certificates import TrustStore

STAGE = "policy"


@dataclasses.dataclass(frozen=True, slots=True)
class Screened:
    addressed: Addressed
    decision: Decision
    scans: tuple[malware.Scan, ...] = ()

    @property
    def refusal(self) -> Refusal | None:
        """The refusal a `reject` decision makes, naming its first rejecting rule."""
        hit = next((h for h in self.decision.hits if h.action == "reject"), None)
        if self.decision.action != "reject" or hit is None:
            return None
        return Refusal(
            STAGE,
            ReasonCode(hit.reason_code),
            f"rule {hit.rule} ({hit.article}) matched “{hit.matched}” in {hit.field}",
        )


async def screen(
    addressed: Addressed,
    packet: edxml.Packet | None,
    policy: Policy,
    *,
    released: bool,
    trust: TrustStore,
    scanner: malware.Clamd | None,
    directory: Directory,
    workers: Workers | None = None,
    claims: Claims | None = None,
) -> Screened | Refusal:
    body = addressed.authenticated.verified.body
    if not isinstance(body, EnvelopeBody):
        return Screened(addressed, Decision("pass", ()))
    # With workers, each PDF's structure is read there, under the budget, with its text.
    pdfs_here = workers is None
    limits = attachments.Limits(max_referenced_bytes=claims.max_bytes if claims else 0)
    try:
        attachments.check(body.attachments, limits, pdfs=pdfs_here)
        packet = packet or edxml.parse(body.edxml)
        attachments.check_embedded(packet.attachments, pdfs=pdfs_here)
        async with _fetched(body.attachments, claims) as attached:
            screening = await screen_document(
                packet, attached, policy, sender=body.sender,
                parties=_parties(addressed, directory), trust=trust, scanner=scanner,
                at=addressed.authenticated.received_at, workers=workers,
            )  # fmt: skip
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    decision = screening.decision
    if decision.action == "hold" and released:
        decision = dataclasses.replace(decision, action="flag")
    return Screened(addressed, decision, screening.scans)


@contextlib.asynccontextmanager
async def _fetched(
    carried: Sequence[AttachmentRef], claims: Claims | None
) -> AsyncIterator[list[File]]:
    """The attachments as files to screen, those carried by reference fetched into a
    private spool and checked against their signed SHA-256 on the way (the check before
    made sure each is content or reference, never neither)."""
    if all(a.content is not None for a in carried):
        # Each content was checked against its signed SHA-256 (attachments.check) before.
        yield [
            File(a.name, a.media_type, a.content, a.sha256)
            for a in carried
            if a.content is not None
        ]
        return
    if claims is None:
        raise Rejected(ReasonCode.ATTACHMENT_MISSING, "no claim-check store is configured here")
    async with claims.spooled() as folder:
        files = []
        spooled: dict[tuple[str, int], Path] = {}  # each stored file fetched once
        for attachment in carried:
            content: bytes | Path | None = attachment.content
            if content is None:
                content = spooled.get((attachment.sha256, attachment.size))
            if content is None:
                content = folder / str(len(spooled))
                spooled[attachment.sha256, attachment.size] = content
                await claims_module.spool(
                    claims.store, attachment.reference or "", attachment.sha256,
                    attachment.size, content,
                )  # fmt: skip
            files.append(File(attachment.name, attachment.media_type, content, attachment.sha256))
        yield files


def _parties(addressed: Addressed, directory: Directory) -> Parties | None:
    """Levels as the address stage resolved them: a redirected recipient counts at its
    successor's level."""
    units = directory.units
    sender = units.get(addressed.authenticated.verified.body.sender)
    if sender is None:
        return None
    recipients = frozenset(
        units[r.delivered_to].level for r in addressed.routes if r.delivered_to in units
    )
    return Parties(sender.level, recipients)
