"""PAdES requirements by document type (Articles 3.4, 9.1, 10): which rule applies, what
each kind of PDF gets under it, and policy files that say it wrongly."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from broker import jobs
from broker.policy import rules, signatures
from broker.policy.check import File
from broker.policy.screening import Screening, _read_pdfs, screen_document
from kernel.budget import Budget, Workers
from kernel.errors import OverBudget, PolicyError
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from schemas.edxml import model as m
from signing import pdf
from signing.testpki import TestPki
from tests.hostile import slow_pdf

SENDER, OTHER = "000.00.00.H62", "000.03.00.H62"
POLICY = """version: 1
rules: []
pdf_signatures:
  - {id: any-valid, article: "Đ3.4", document_types: ["*"], require: [], action: reject}
  - {id: signed, article: "Đ3.4", document_types: ["*"], require: [any], action: flag}
  - {id: decisions, article: "Đ9.1", document_types: [quyết định, Nghị quyết],
     require: [personal, organisation], action: reject}
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> rules.Policy:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return rules.load(path)


@pytest.mark.parametrize(
    ("type_name", "applies"),
    [
        ("Quyết định", True),
        ("QUYẾT ĐỊNH", True),
        ("Quyet dinh", True),
        ("Quyết  định", True),
        ("Nghị quyết", True),
        ("Quyết định khen thưởng", False),
        ("Công văn", False),
        (None, False),
    ],
)
def test_document_types_match_by_name(
    policy: rules.Policy, type_name: str | None, applies: bool
) -> None:
    decisions = next(r for r in policy.pdf_signatures if r.id == "decisions")
    assert decisions.applies_to(type_name) is applies
    assert all(r.applies_to(type_name) for r in policy.pdf_signatures if r.id != "decisions")


async def _pdf(pki: TestPki, case: str) -> bytes:
    unit, head = pki.unit(SENDER), pki.person(SENDER, "Nguyễn Văn A", "079200000001")
    if case == "unsigned":
        return minimal_pdf()
    if case == "organisation":
        return await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain)
    if case == "personal":
        return await pdf.sign_pdf(minimal_pdf(), head.key, head.chain)
    if case == "personal+organisation":
        once = await pdf.sign_pdf(minimal_pdf(), head.key, head.chain)
        return await pdf.sign_pdf(once, unit.key, unit.chain)
    if case == "other-unit":
        other = pki.unit(OTHER)
        return await pdf.sign_pdf(minimal_pdf(), other.key, other.chain)
    if case == "expired":
        now = datetime.datetime.now(datetime.UTC)
        old = pki.unit(SENDER, not_before=now - datetime.timedelta(days=400),
                       not_after=now - datetime.timedelta(days=1))  # fmt: skip
        return await pdf.sign_pdf(minimal_pdf(), old.key, old.chain)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "type_name", "expected"),
    [
        ("personal+organisation", "Quyết định", set()),
        ("organisation", "Quyết định", {("decisions", "pdf_signature_missing", "reject")}),
        ("personal", "Quyết định", {("decisions", "pdf_signature_missing", "reject")}),
        ("unsigned", "Quyết định", {("signed", "pdf_unsigned", "flag"),
                                    ("decisions", "pdf_unsigned", "reject")}),
        ("organisation", "Công văn", set()),
        ("unsigned", "Công văn", {("signed", "pdf_unsigned", "flag")}),
        ("other-unit", "Công văn", {("any-valid", "certificate_wrong_unit", "reject"),
                                    ("signed", "certificate_wrong_unit", "flag")}),
        ("expired", "Công văn", {("any-valid", "certificate_expired", "reject"),
                                 ("signed", "certificate_expired", "flag")}),
    ],
)  # fmt: skip
async def test_each_requirement_gives_its_reason(
    policy: rules.Policy, pki: TestPki, case: str, type_name: str, expected: set[tuple[str, ...]]
) -> None:
    files = [
        File("qd.pdf", "application/pdf", await _pdf(pki, case)),
        File("ghi-chu.txt", "text/plain", b"not a PDF: no signature rule looks at it"),
    ]
    hits = await signatures.check(
        policy.pdf_signatures, type_name, files, trust=pki.trust_store(), sender=SENDER
    )
    assert {(h.rule, h.reason_code, h.action) for h in hits} == expected
    assert all(h.matched.startswith("qd.pdf: ") for h in hits)


async def test_the_moment_given_judges_the_signers(policy: rules.Policy, pki: TestPki) -> None:
    """The router passes its receive time: a certificate expired by then is refused."""
    files = [File("qd.pdf", "application/pdf", await _pdf(pki, "organisation"))]
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3 * 365)
    hits = await signatures.check(
        policy.pdf_signatures, "Công văn", files, trust=pki.trust_store(), sender=SENDER, at=later
    )
    assert {(h.rule, h.reason_code) for h in hits} == {
        ("any-valid", "certificate_expired"),
        ("signed", "certificate_expired"),
    }


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    pool = Workers(Budget(seconds=2, memory_mb=384, workers=2), preload=["broker.jobs"])
    yield pool
    pool.close()


def _decision(screening: Screening) -> set[tuple[str, str, str]]:
    return {(h.rule, h.reason_code, h.action) for h in screening.decision.hits}


@pytest.mark.parametrize("case", ["personal+organisation", "organisation", "unsigned", "expired"])
async def test_the_workers_judge_signatures_as_this_process_does(
    policy: rules.Policy, pki: TestPki, workers: Workers, case: str
) -> None:
    """The router validates each PDF in the job that reads its text: same hits as
    `policy check`, which validates here."""
    packet = m.DocumentPacket(
        subject="Quyết định", document_type=m.DocumentType(type_name="Quyết định")
    )
    files = [File("qd.pdf", "application/pdf", await _pdf(pki, case))]
    screened = [
        await screen_document(
            packet,
            files,
            policy,
            sender=SENDER,
            parties=None,
            trust=pki.trust_store(),
            scanner=None,
            workers=pool,
        )
        for pool in (None, workers)
    ]
    assert _decision(screened[0]) == _decision(screened[1])
    assert case == "personal+organisation" or _decision(screened[1])


async def test_a_pdf_too_costly_to_read_still_has_its_signatures_judged(
    policy: rules.Policy, pki: TestPki, workers: Workers
) -> None:
    """Its text over the budget holds the document; its missing signatures must still
    refuse it, or a reviewer's release would pass a PDF nobody validated."""
    packet = m.DocumentPacket(
        subject="Quyết định", document_type=m.DocumentType(type_name="Quyết định")
    )
    files = [File("qd.pdf", "application/pdf", slow_pdf())]
    screening = await screen_document(
        packet, files, policy, sender=SENDER, parties=None, trust=pki.trust_store(),
        scanner=None, workers=workers,
    )  # fmt: skip
    assert _decision(screening) == {
        (jobs.BUDGET_RULE, "attachment_too_complex", "hold"),
        ("signed", "pdf_unsigned", "flag"),
        ("decisions", "pdf_unsigned", "reject"),
    }
    assert screening.decision.action == "reject"


class CostlyTogether:
    """Workers (pure logic: jobs run in a thread here) on which a PDF's text and
    signatures in one job always run over the budget, and each alone fits."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def run_all(
        self, work: dict[Any, tuple[Callable[..., Any], tuple[Any, ...]]], *, shares: int = 1
    ) -> dict[Any, Any]:
        self.asked += [(f.__name__, shares) for f, _ in work.values()]
        if shares > 1:
            return {key: OverBudget("took longer than 10 s") for key in work}
        return {key: await asyncio.to_thread(f, *args) for key, (f, args) in work.items()}


async def test_a_pdf_too_costly_in_one_job_has_its_text_and_signatures_read_alone(
    pki: TestPki,
) -> None:
    """Whichever of the two made the job too costly, the other is still judged: a text
    rule that rejects, or a signature that fails, outranks the hold."""
    workers = CostlyTogether()
    validation = jobs.Validation(jobs.bundle(pki.trust_store()), SENDER, None)
    files = [File("qd.pdf", "application/pdf", await _pdf(pki, "organisation"))]
    read = await _read_pdfs(files, cast(Workers, workers), validation)
    assert workers.asked == [("read_pdf", 2), ("read_pdf", 1), ("validate_pdf", 1)]
    assert read.over == {}
    assert read.texts[0] is not None
    assert read.texts[0].strip()
    signed = read.signatures[0]
    assert isinstance(signed, jobs.Signatures)
    assert signed.failure is None
    assert [v.kind for v in signed.verdicts] == ["organisation"]


PDF_RULE = "{id: p, article: a, document_types: ['*'], require: [any], action: reject"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (PDF_RULE.replace("reject", "paper") + "}", "action"),
        (PDF_RULE.replace("[any]", "[stamp]") + "}", "require"),
        (PDF_RULE.replace("['*']", "'*'") + "}", "document_types"),
        (PDF_RULE.replace("document_types: ['*'], ", "") + "}", "`document_types` is missing"),
        (PDF_RULE + ", colour: red}", "unknown keys"),
    ],
)
def test_bad_signature_rules_are_refused(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nrules: []\npdf_signatures: [{entry}]\n")
    with pytest.raises(PolicyError, match=message) as caught:
        rules.load(path)
    assert caught.value.reason == ReasonCode.POLICY_INVALID


def test_signature_rules_can_be_limited_to_levels(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nrules: []\npdf_signatures:\n"
        "  - {id: to-the-centre, article: 'Đ9.1', document_types: ['*'], require: [personal],"
        " action: reject, recipient_levels: [central]}\n",
        encoding="utf-8",
    )
    (rule,) = rules.load(path).pdf_signatures
    assert rule.applies_to("Công văn", rules.Parties("province", frozenset({"central"})))
    assert not rule.applies_to("Công văn", rules.Parties("province", frozenset({"commune"})))
    assert not rule.applies_to("Công văn", None)
