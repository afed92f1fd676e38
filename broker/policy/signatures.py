"""PAdES requirements per document type (Articles 3.4, 9.1 and 10), as policy hits.

Each PDF is validated once (signing/pdf.py: the trust store's certificate rules as of the
moment given, whole-file coverage, signers bound to the sender); every rule that applies to
the document type turns a failed validation or a missing kind of signature into a hit with
the rule's action.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from broker import jobs
from broker.policy.check import File, essence
from broker.policy.rules import ANY_SIGNATURE, Hit, Parties, SignatureRule
from kernel.errors import JobFailed, OverBudget
from kernel.reasons import ReasonCode
from signing.certificates import TrustStore

FIELD = "pdf_signature"
_NEEDS = {
    "organisation": "needs the signature of the unit's organisation certificate (Art. 10)",
    "personal": "needs the signature of a personal certificate of the unit (Art. 9.1)",
}


def pdfs_of(files: Sequence[File]) -> list[File]:
    return [f for f in files if essence(f.media_type) == "application/pdf"]


def applying(
    rules: Sequence[SignatureRule], type_name: str | None, parties: Parties | None = None
) -> list[SignatureRule]:
    return [r for r in rules if r.applies_to(type_name, parties)]


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
    """In this process (`policy check`; the router validates in its workers, with each
    PDF's text: broker.jobs.read_pdf). `at` is the moment the signers' certificates are
    judged at (None: now)."""
    rules = applying(rules, type_name, parties)
    pdfs = pdfs_of(files)
    if not (rules and pdfs):
        return []
    answers = [await jobs.signatures_of(f.content, trust, sender, at) for f in pdfs]
    return judge(rules, list(zip(pdfs, answers, strict=True)))


def judge(
    rules: Sequence[SignatureRule],
    validated: Sequence[tuple[File, jobs.Signatures | OverBudget | JobFailed]],
) -> list[Hit]:
    """The hits of each PDF's validation against the rules that apply; one over budget
    holds the document."""
    hits: list[Hit] = []
    for file, answer in validated:
        if isinstance(answer, JobFailed):
            raise answer  # a defect the PDF provoked: the record's internal error
        if isinstance(answer, OverBudget):
            hits.append(jobs.budget_hit(file.name, f"validating its signatures {answer.message}"))
            continue
        kinds = {v.kind for v in answer.verdicts}
        for rule in rules:
            if answer.failure is None:
                hits.extend(
                    _hit(rule, ReasonCode.PDF_SIGNATURE_MISSING, f"{file.name}: {_NEEDS[kind]}")
                    for kind in sorted(rule.require - kinds - {ANY_SIGNATURE})
                )
            elif answer.failure[0] != ReasonCode.PDF_UNSIGNED or rule.require:
                reason, message = answer.failure
                hits.append(_hit(rule, ReasonCode(reason), f"{file.name}: {message}"))
    return hits


def _hit(rule: SignatureRule, reason: ReasonCode, matched: str) -> Hit:
    return Hit(rule.id, rule.article, reason.value, rule.action, FIELD, matched)
