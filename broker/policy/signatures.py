"""PAdES requirements per document type (Articles 3.4, 9.1 and 10), as policy hits.

Each PDF is validated once (signing/pdf.py: the trust store's certificate rules as of the
moment given, whole-file coverage, signers bound to the sender); every rule that applies to
the document type turns a failed validation or a missing kind of signature into a hit with
the rule's action.
"""

from __future__ import annotations

import datetime
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
    at: datetime.datetime | None = None,
) -> list[Hit]:
    """`at` is the moment the signers' certificates are judged at (None: now); the router
    gives the time it received the envelope."""
    applying = [r for r in rules if r.applies_to(type_name, parties)]
    if not applying:
        return []
    hits: list[Hit] = []
    for file in pdfs_of(files):
        try:
            verdicts = await pdf.validate_pdf(file.content, trust=trust, sender=sender, at=at)
            kinds = {v.kind for v in verdicts}
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
