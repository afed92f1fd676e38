"""One document against the whole policy: the path the router's policy stage and
`lienthong policy check` share, so a clerk's trial gives the router's decision.

In order: a malware scan of every attachment (infected: reject; unscannable: hold), the
text rules over the fields and attachment text, then the PDF signature requirements of
the document's type.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from broker import jobs
from broker.policy import malware, signatures
from broker.policy.check import TEXT_TYPES, File, essence, texts_of
from broker.policy.rules import Decision, Hit, Parties, Policy, SignatureRule, decide
from kernel.budget import Workers
from kernel.errors import JobFailed, OverBudget, PolicyError
from kernel.reasons import ReasonCode
from schemas import edxml
from signing.certificates import TrustStore

MALWARE_RULE = "A9.2-malware"


@dataclasses.dataclass(frozen=True, slots=True)
class Screening:
    decision: Decision
    scans: tuple[malware.Scan, ...]
    not_read: tuple[str, ...]
    """Attachments whose text could not be read for the rules."""


def files_of(packet: edxml.Packet, attached: Sequence[File] = ()) -> list[File]:
    """Attachments embedded in the edXML, then those carried beside it."""
    embedded = [
        File(a.attachment_name or "attachment", a.content_type or "", a.content)
        for a in packet.attachments
        if a.content is not None
    ]
    return [*embedded, *attached]


async def screen_document(
    packet: edxml.Packet,
    attached: Sequence[File],
    policy: Policy,
    *,
    sender: str | None,
    parties: Parties | None,
    trust: TrustStore | None,
    scanner: malware.Clamd | None,
    at: datetime.datetime | None = None,
    workers: Workers | None = None,
) -> Screening:
    """`parties` None (no directory) skips the rules limited to some levels, `trust` None
    the PDF signature rules (only `policy check` runs without them); `scanner` None
    records every attachment as not scanned; signers are judged `at` that moment (the
    router's receive time; None: now). With `workers`, PDF text is read in them under their
    budget, and a PDF over it holds the document for review."""
    files = files_of(packet, attached)
    scans = tuple(await malware.scan_all(scanner, files))
    hits = [_malware_hit(scan) for scan in scans if scan.verdict in ("infected", "error")]
    type_name: str | None = None
    rules: list[SignatureRule] = []
    if trust is not None and isinstance(packet, edxml.DocumentPacket):
        type_name = packet.document_type.type_name if packet.document_type else None
        rules = signatures.applying(policy.pdf_signatures, type_name, parties)
    read: Read | None = None
    if workers is not None:
        validation = None
        if rules and trust is not None:
            validation = jobs.Validation(jobs.bundle(trust), sender, at)
        read = await _read_pdfs(files, workers, validation)
        hits += [jobs.budget_hit(files[i].name, f"reading it {w}") for i, w in read.over.items()]
    texts = texts_of(packet, files, read.texts if read else None)
    hits += [
        jobs.budget_hit(f.name, "is text carried by reference, too long for the rules to read")
        for f in files
        if isinstance(f.content, Path) and essence(f.media_type) in TEXT_TYPES
    ]
    hits += policy.evaluate(texts.fields, parties).hits
    if rules and read is not None:
        hits += signatures.judge(rules, [(files[i], a) for i, a in sorted(read.signatures.items())])
    elif rules and trust is not None:
        hits += await signatures.check(
            rules, type_name, files, trust=trust, sender=sender, parties=parties, at=at
        )
    return Screening(decide(hits), scans, tuple(texts.not_read))


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    """What the workers read of a document's PDFs, by position among its files."""

    texts: dict[int, str | None]
    over: dict[int, str]
    """Why each PDF over the budget is."""
    signatures: dict[int, jobs.Signatures | OverBudget | JobFailed]
    """Each PDF's signatures, when the policy asked for them."""

    def add(self, position: int, answer: jobs.PdfRead | OverBudget | JobFailed) -> None:
        if isinstance(answer, JobFailed):
            raise answer  # a defect the PDF provoked: the record's internal error
        if isinstance(answer, OverBudget):
            self.over[position] = answer.message
        elif answer.problem is not None:
            reason, message = answer.problem
            raise PolicyError(ReasonCode(reason), message)
        else:
            self.texts[position] = answer.text
            if answer.signatures is not None:
                self.signatures[position] = answer.signatures


async def _read_pdfs(
    files: Sequence[File], workers: Workers, validation: jobs.Validation | None
) -> Read:
    """Each PDF's structure, signatures (when `validation` is given) and text, in one job
    per PDF with the time of the two, side by side. A PDF whose structure is refused
    refuses the document (PolicyError). Should one job run over its time, its text and its
    signatures are read again each alone, under a budget of their own: as costly as a slow
    PDF already was, and neither may leave the other unjudged (a bad signature or a
    rejected text outranks the hold, which a reviewer's release would pass)."""
    positions = [i for i, f in enumerate(files) if essence(f.media_type) == "application/pdf"]
    reads = await workers.run_all(
        {i: (jobs.read_pdf, (files[i].name, files[i].content, validation)) for i in positions},
        shares=1 if validation is None else 2,
    )
    result = Read({}, {}, {})
    again: list[int] = []
    for position, answer in reads.items():
        if isinstance(answer, OverBudget) and validation is not None:
            again.append(position)
        else:
            result.add(position, answer)
    if again:
        alone: dict[tuple[int, str], tuple[Callable[..., object], tuple[object, ...]]] = {}
        for i in again:
            alone[i, "text"] = (jobs.read_pdf, (files[i].name, files[i].content))
            alone[i, "signatures"] = (jobs.validate_pdf, (files[i].content, validation))
        answers = await workers.run_all(alone)
        for i in again:
            result.add(i, cast(jobs.PdfRead | OverBudget | JobFailed, answers[i, "text"]))
            result.signatures[i] = cast(
                jobs.Signatures | OverBudget | JobFailed, answers[i, "signatures"]
            )
    return result


def _malware_hit(scan: malware.Scan) -> Hit:
    if scan.verdict == "infected":
        return Hit(MALWARE_RULE, "Đ9.2", ReasonCode.MALWARE_FOUND.value, "reject", "attachment",
                   f"{scan.name}: {scan.detail}")  # fmt: skip
    return Hit(MALWARE_RULE, "Đ9.2", ReasonCode.MALWARE_SCAN_FAILED.value, "hold", "attachment",
               f"{scan.name}: {scan.detail}")  # fmt: skip
