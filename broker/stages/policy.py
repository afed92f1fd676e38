"""Stage 4 (before route): attachments in general, then the content policy of Article 4.

Attachments must be of a carried type, within size, equal to their declared hash, and PDFs
must open unencrypted. Then `reject` refuses the envelope (a status 02 naming the rule),
`hold` keeps it for an operator's review, `flag` routes it with the decision recorded, and
`paper` marks its deliveries paper_copy_required. A document an operator has released is
not held again.
"""

from __future__ import annotations

import dataclasses

from broker.policy import attachments
from broker.policy.check import File, texts_of
from broker.policy.rules import Decision, Policy
from broker.stages import Refusal
from broker.stages.address import Addressed
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import edxml
from schemas.envelope import EnvelopeBody

STAGE = "policy"


@dataclasses.dataclass(frozen=True, slots=True)
class Screened:
    addressed: Addressed
    decision: Decision

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


def screen(addressed: Addressed, policy: Policy, *, released: bool) -> Screened | Refusal:
    body = addressed.authenticated.verified.body
    if not isinstance(body, EnvelopeBody):
        return Screened(addressed, Decision("pass", ()))
    try:
        attachments.check(body.attachments)
        packet = edxml.parse(body.edxml)
    except Rejected as exc:
        return Refusal.of(STAGE, exc)
    files = [File(a.name, a.media_type, a.content) for a in body.attachments if a.content]
    decision = policy.evaluate(texts_of(packet, files).fields)
    if decision.action == "hold" and released:
        return Screened(addressed, dataclasses.replace(decision, action="flag"))
    return Screened(addressed, decision)
