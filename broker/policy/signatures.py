"""PAdES requirements per document type (Articles 3.4, 9.1 and 10), as policy hits.

Each PDF is validated once (signing/pdf.py: trust roots, revocation, whole-file coverage,
signers bound to the sender); every rule that applies to the document type turns a failed
validation or a missing kind of signature into a hit with the rule's action.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.policy.check import File, essence
from broker.policy.rules import ANY_SIGNATURE, Hit, Parties, SignatureRule
from kernel.errors import TrustError
from kernel.reasons import ReasonCode
from signing import pdf
from signing.certificates import TrustStore

FIELD = "pdf_signature"
_NEEDS = {
    "organisation": "needs the signature of the unit's organisation certificate (Art. 10)",
    "personal": "needs the signature of a personal certificate of the unit (Art. 9.1)",
}


def pdfs_of(files: Sequence[File]) -> list[File]:
    return [f for f in files if essence(f.media_type) == "application/pdf"]


async def check(
    rules: Sequence[SignatureRule],
    type_name: str | None,
    files: Sequence[File],
    *,
    trust: TrustStore,
    sender: str | None,
    parties: Parties | None = None,
) -> list[Hit]:
    applying = [r for r in rules if r.applies_to(type_name, parties)]
    if not applying:
        return []
    hits: list[Hit] = []
    for file in pdfs_of(files):
        try:
            kinds = {
                v.kind for v in await pdf.validate_pdf(file.content, trust=trust, sender=sender)
            }
            failure: TrustError | None = None
        except TrustError as exc:
            kinds, failure = set(), exc
        for rule in applying:
            if failure is None:
                hits.extend(
                    _hit(rule, ReasonCode.PDF_SIGNATURE_MISSING, f"{file.name}: {_NEEDS[kind]}")
                    for kind in sorted(rule.require - kinds - {ANY_SIGNATURE})
                )
            elif failure.reason != ReasonCode.PDF_UNSIGNED or rule.require:
                hits.append(_hit(rule, failure.reason, f"{file.name}: {failure.message}"))
    return hits


def _hit(rule: SignatureRule, reason: ReasonCode, matched: str) -> Hit:
    return Hit(rule.id, rule.article, reason.value, rule.action, FIELD, matched)
