"""What a reviewer judges, read back from what the router kept: the held record's own bytes
decoded, its edXML's subject, content and type, its attachments and their text, as the
policy read them, with each rule's match shown in its context.

Everything here comes from another agency and is hostile: texts are cut to what a page
shows, PDFs (and an edXML larger than the router parses inline) are read in worker
processes under the router's budget, never in the console's own process. Highlighting
gives the templates plain strings and a flag, never markup: Jinja escapes each piece.

The decisions themselves are broker.review's and broker.replay's; this module gives them
the Kafka producer and the router's identity they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import re
import unicodedata
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from broker import jobs
from broker.policy import text as policy_text
from broker.policy.check import TEXT_TYPES, File, essence
from broker.policy.screening import files_of
from kernel import claims, kafka
from kernel.budget import Budget, Workers
from kernel.database import Connection
from kernel.errors import JobFailed, LienthongError, OverBudget, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from schemas import codec, edxml
from schemas.envelope import AttachmentRef, EnvelopeBody, decode_signed, open_body
from signing.identity import Identity

MAX_SHOWN = 200_000
"""Characters of one text a page shows (the rest is said to be cut)."""
MAX_SEARCHED = 2_000_000
"""Characters of one text searched for a match: as much as the policy reads of a PDF."""
CONTEXT = 160
"""Characters shown either side of a match."""
MAX_PASSAGES = 20
"""Matches shown in context per rule and field; the full text marks them all."""
MAX_LISTED = 100
PARSE_INLINE_BYTES = 256 * 1024
"""As the router (broker.service): an edXML up to this size is parsed in the process."""
STATES = ("held", "released", "rejected")
_LINE = re.compile(r"[^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_WORD = re.compile(r"\w+")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    text: str
    marked: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Shown:
    """One text as the policy read it, cut to MAX_SHOWN, with every match marked."""

    label: str
    field: str
    segments: tuple[Segment, ...]
    cut: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Passage:
    source: str
    before: str
    matched: str
    after: str


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """A rule that matched (policy_decisions), with where it matched."""

    rule: str
    article: str
    reason_code: str
    action: str
    field: str
    matched: str
    passages: tuple[Passage, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Attached:
    index: int
    name: str
    media_type: str
    size: int
    by_reference: bool
    pdf: bool
    read: str
    """What became of its text: `read`, `not_read` (not text the policy reads), `over_budget`
    or `refused`."""


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    held: dict[str, Any]
    subject: str | None
    type_name: str | None
    notation: str | None
    recipients: tuple[str, ...]
    texts: tuple[Shown, ...]
    findings: tuple[Finding, ...]
    attachments: tuple[Attached, ...]
    problem: str | None
    """Why the content could not be read, if it could not."""


# --- Matching in context ---------------------------------------------------------------


def as_read(text: str) -> str:
    """The text as the policy reads it: format characters (zero-width and the like) gone,
    Unicode NFC. It is shown so, so that what is marked is what matched."""
    return unicodedata.normalize("NFC", policy_text._strip_format(text))


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    folded: str
    start: int
    end: int


def _token(word: str, start: int, end: int) -> _Token:
    return _Token(word.casefold(), start, end)


def _tokens(text: str) -> list[_Token]:
    """Words with their place in `text`, single letters spaced apart joined up, as
    broker.policy.text.words does."""
    found: list[_Token] = []
    for line in _LINE.finditer(text):
        run: list[re.Match[str]] = []
        for word in _WORD.finditer(text, line.start(), line.end()):
            if len(word.group()) == 1 and not word.group().isdigit():
                run.append(word)
                continue
            if run:
                found.append(_token("".join(m.group() for m in run), run[0].start(), run[-1].end()))
                run = []
            found.append(_token(word.group(), word.start(), word.end()))
        if run:
            found.append(_token("".join(m.group() for m in run), run[0].start(), run[-1].end()))
    return found


def spans(text: str, matched: str) -> list[tuple[int, int]]:
    """Where the words a rule matched stand in `text`. policy_decisions keeps the text's
    own words, folded (a loose rule's `tuyet mat` is kept as the text wrote it), so they
    are found again as folded words, never by a looser comparison that would mark more."""
    wanted = policy_text.words(matched).folded
    if not wanted:
        return []
    tokens = _tokens(text[:MAX_SEARCHED])
    size = len(wanted)
    return [
        (tokens[i].start, tokens[i + size - 1].end)
        for i in range(len(tokens) - size + 1)
        if all(tokens[i + k].folded == wanted[k] for k in range(size))
    ]


def _merged(found: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def marked(text: str, found: Sequence[tuple[int, int]], limit: int = MAX_SHOWN) -> list[Segment]:
    """`text` cut to `limit` characters, as plain and marked pieces."""
    shown = text[:limit]
    segments: list[Segment] = []
    at = 0
    for start, end in _merged(found):
        if start >= len(shown):
            break
        if start > at:
            segments.append(Segment(shown[at:start], False))
        segments.append(Segment(shown[start : min(end, len(shown))], True))
        at = min(end, len(shown))
    if at < len(shown):
        segments.append(Segment(shown[at:], False))
    return segments


def passages(
    source: str, text: str, found: Sequence[tuple[int, int]], width: int = CONTEXT
) -> list[Passage]:
    """Each match with up to `width` characters either side, an ellipsis where cut."""
    shown = []
    for start, end in _merged(found)[:MAX_PASSAGES]:
        before = text[max(0, start - width) : start]
        after = text[end : end + width]
        shown.append(
            Passage(
                source,
                ("…" if start > width else "") + before,
                text[start:end],
                after + ("…" if end + width < len(text) else ""),
            )
        )
    return shown


# --- Reading the held record -------------------------------------------------------------


def message_id_of(value: str) -> str:
    """A held document's id from a URL: a version 4 UUID, as every document's is."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise Rejected(ReasonCode.MESSAGE_ID_INVALID, "a document's id is a UUID")
    return value


@functools.cache
def registry() -> codec.Registry:
    return codec.Registry.load()


def opened(headers: str, original: bytes) -> EnvelopeBody:
    """The held record's body: the router authenticated these bytes before it held them."""
    envelope = decode_signed(
        registry(), codec.fingerprint_from(codec.stored_headers(headers)), bytes(original)
    )
    body = open_body(registry(), envelope)
    if not isinstance(body, EnvelopeBody):
        raise Rejected(ReasonCode.KIND_MISMATCH, "a held record is a document, not a status")
    return body


def _subject(body: EnvelopeBody) -> str | None:
    """The subject for a list: read only from an edXML the router parses inline."""
    if len(body.edxml) > PARSE_INLINE_BYTES:
        return None
    try:
        packet = edxml.parse(body.edxml)
    except Rejected:
        return None
    return packet.subject if isinstance(packet, edxml.DocumentPacket) else None


async def held_documents(conn: Connection, state: str) -> list[dict[str, Any]]:
    """The documents in `state`, oldest first, each with its subject and its rules."""
    if state not in STATES:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"a review state is one of {STATES}")
    rows = await conn.fetch(
        "SELECT h.message_id, h.sender, u.name AS sender_name, h.held_at, h.state,"
        " h.reviewed_by, h.reviewed_at, h.why, h.headers, h.original,"
        " coalesce(array_agg(DISTINCT p.rule_id || ' (' || p.article || ')')"
        " FILTER (WHERE p.action = 'hold'), '{}') AS rules"
        " FROM held h LEFT JOIN policy_decisions p USING (message_id)"
        " LEFT JOIN units u ON u.organ_id = h.sender"
        " WHERE h.state = $1 GROUP BY h.message_id, u.name ORDER BY h.held_at LIMIT $2",
        state,
        MAX_LISTED,
    )
    listed = []
    for row in rows:
        found = dict(row)
        headers, original = found.pop("headers"), found.pop("original")
        try:
            found["subject"] = _subject(opened(headers, original))
        except Rejected:
            found["subject"] = None
        listed.append(found)
    return listed


async def held_row(conn: Connection, message_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT h.*, u.name AS sender_name FROM held h"
        " LEFT JOIN units u ON u.organ_id = h.sender WHERE h.message_id = $1",
        message_id_of(message_id),
    )
    if row is None:
        raise Rejected(ReasonCode.NOT_FOUND, f"no document {message_id} was held for review")
    return dict(row)


def _workers(settings: Settings) -> Workers:
    return Workers(Budget(seconds=settings.job_seconds, memory_mb=settings.job_memory_mb,
                          workers=1), preload=["broker.jobs"])  # fmt: skip


@contextlib.asynccontextmanager
async def _budgeted(settings: Settings) -> AsyncIterator[Workers]:
    workers = _workers(settings)
    try:
        yield workers
    finally:
        await asyncio.to_thread(workers.close)


async def _packet(body: EnvelopeBody, settings: Settings) -> edxml.Packet:
    if len(body.edxml) <= PARSE_INLINE_BYTES:
        return edxml.parse(body.edxml)
    async with _budgeted(settings) as workers:
        answer = await workers.run(jobs.parse_edxml, body.edxml)
    if isinstance(answer, tuple):
        reason, message = answer
        raise Rejected(ReasonCode(reason), message)
    return answer


@contextlib.asynccontextmanager
async def _files(body: EnvelopeBody, packet: edxml.Packet, settings: Settings,
                 ) -> AsyncIterator[list[tuple[File, AttachmentRef | None]]]:  # fmt: skip
    """Every attachment as the policy screened it (files_of's order): embedded ones, then
    those carried beside the edXML, those by reference fetched into a private spool."""
    embedded = [(f, None) for f in files_of(packet)]
    store = claims.Claims.from_settings(settings)
    if all(a.content is not None for a in body.attachments):
        yield [*embedded, *((File(a.name, a.media_type, a.content or b""), a)
                            for a in body.attachments)]  # fmt: skip
        return
    async with store.spooled() as folder:
        carried: list[tuple[File, AttachmentRef | None]] = []
        for position, a in enumerate(body.attachments):
            if a.content is not None:
                carried.append((File(a.name, a.media_type, a.content), a))
                continue
            path = folder / str(position)
            await claims.spool(store.store, a.reference or "", a.sha256, a.size, path)
            carried.append((File(a.name, a.media_type, path), a))
        yield [*embedded, *carried]


async def attachment_texts(
    files: Sequence[tuple[File, AttachmentRef | None]], settings: Settings
) -> tuple[list[Attached], list[tuple[str, str]]]:
    """Each attachment's description, and the (name, text) of those the policy read."""
    pdfs = {
        i: (jobs.read_pdf, (f.name, f.content))
        for i, (f, _) in enumerate(files)
        if essence(f.media_type) == "application/pdf"
    }
    answers: dict[int, Any] = {}
    if pdfs:
        async with _budgeted(settings) as workers:
            answers = await workers.run_all(pdfs)
    described: list[Attached] = []
    texts: list[tuple[str, str]] = []
    for index, (file, ref) in enumerate(files):
        media_type = essence(file.media_type)
        content = file.content
        read = "not_read"
        if media_type in TEXT_TYPES and isinstance(content, bytes):
            texts.append((file.name, content[: 4 * MAX_SEARCHED].decode("utf-8", "replace")))
            read = "read"
        elif index in answers:
            answer = answers[index]
            if isinstance(answer, OverBudget | JobFailed):
                read = "over_budget"
            elif answer.problem is not None:
                read = "refused"
            elif answer.text is not None:
                texts.append((file.name, answer.text))
                read = "read"
        size = ref.size if ref is not None else len(content) if isinstance(content, bytes) else 0
        described.append(
            Attached(index, file.name, media_type, size, ref is not None and ref.content is None,
                     media_type == "application/pdf", read)
        )  # fmt: skip
    return described, texts


def _fields(
    packet: edxml.Packet, attachment_texts: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """(field, label, text) as broker.policy.check.texts_of gives the rules their fields."""
    fields: list[tuple[str, str, str]] = []
    if isinstance(packet, edxml.DocumentPacket):
        type_name = packet.document_type.type_name if packet.document_type else None
        for field, value in (("subject", packet.subject), ("content", packet.content),
                             ("type_name", type_name)):  # fmt: skip
            if value:
                fields.append((field, field, as_read(value[:MAX_SEARCHED])))
    elif packet.description:
        fields.append(("content", "content", as_read(packet.description[:MAX_SEARCHED])))
    fields += [("attachment_text", n, as_read(t[:MAX_SEARCHED])) for n, t in attachment_texts]
    return fields


async def _decisions(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT rule_id, article, reason_code, action, field, matched FROM policy_decisions"
        " WHERE message_id = $1 ORDER BY array_position(ARRAY['hold', 'reject', 'flag', 'paper'],"
        " action), rule_id, array_position(ARRAY['subject', 'content', 'type_name',"
        " 'attachment_text'], field), matched",
        message_id,
    )
    return [dict(r) for r in rows]


def judged(
    decisions: Sequence[dict[str, Any]], fields: Sequence[tuple[str, str, str]]
) -> tuple[list[Finding], list[Shown]]:
    """Each decision with its matches in context, and each text with every match marked."""
    found_in: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(fields))}
    findings = []
    for decision in decisions:
        shown: list[Passage] = []
        for position, (field, label, value) in enumerate(fields):
            if field != decision["field"]:
                continue
            where = spans(value, decision["matched"])
            found_in[position] += where
            shown += passages(label, value, where)
        findings.append(
            Finding(decision["rule_id"], decision["article"], decision["reason_code"],
                    decision["action"], decision["field"], decision["matched"],
                    tuple(shown[:MAX_PASSAGES]))
        )  # fmt: skip
    texts = [
        Shown(label, field, tuple(marked(value, found_in[i])), len(value) > MAX_SHOWN)
        for i, (field, label, value) in enumerate(fields)
    ]
    return findings, texts


async def document(conn: Connection, settings: Settings, message_id: str) -> Document:
    """A held document as its reviewer sees it; what cannot be read is said, not hidden."""
    held = await held_row(conn, message_id)
    decisions = await _decisions(conn, held["message_id"])
    problem: str | None = None
    fields: list[tuple[str, str, str]] = []
    attached: list[Attached] = []
    subject = type_name = notation = None
    recipients: tuple[str, ...] = ()
    try:
        body = opened(held["headers"], held["original"])
        recipients = body.recipients
        packet = await _packet(body, settings)
        if isinstance(packet, edxml.DocumentPacket):
            subject = packet.subject
            type_name = packet.document_type.type_name if packet.document_type else None
            notation = packet.code.code_notation if packet.code else None
        fields = _fields(packet, [])
        async with _files(body, packet, settings) as files:
            attached, read_texts = await attachment_texts(files, settings)
        fields = _fields(packet, read_texts)
    except LienthongError as exc:
        problem = f"{exc.reason.value}: {exc.message}"[:500]
    findings, texts = judged(decisions, fields)
    public = {k: v for k, v in held.items() if k not in ("headers", "original", "key")}
    return Document(public, subject, type_name, notation, recipients, tuple(texts),
                    tuple(findings), tuple(attached), problem)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Download:
    name: str
    media_type: str
    chunks: AsyncIterator[bytes]


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def attachment(conn: Connection, settings: Settings, message_id: str,
                     index: int) -> Download:  # fmt: skip
    """One attachment's bytes (those by reference streamed from the claim store, checked
    against their signed hash on the way), by its place in the document page's list."""
    held = await held_row(conn, message_id)
    body = opened(held["headers"], held["original"])
    packet = await _packet(body, settings)
    embedded = files_of(packet)
    if index < 0 or index >= len(embedded) + len(body.attachments):
        raise Rejected(ReasonCode.NOT_FOUND, f"the document has no attachment {index}")
    if index < len(embedded):
        file = embedded[index]
        assert isinstance(file.content, bytes)  # embedded ones are always in the edXML
        return Download(file.name, essence(file.media_type), _once(file.content))
    ref = body.attachments[index - len(embedded)]
    if ref.content is not None:
        return Download(ref.name, essence(ref.media_type), _once(ref.content))
    store = claims.Claims.from_settings(settings).store
    chunks = claims.verified(store, ref.reference or "", ref.sha256, ref.size)
    return Download(ref.name, essence(ref.media_type), chunks)


# --- Deliveries and the Kafka side of decisions ------------------------------------------


async def outcome(conn: Connection, message_id: str | None) -> dict[str, Any]:
    """What the ledger says of a message now: its verdict and each recipient's state."""
    if message_id is None:
        return {"verdict": None, "reason_code": None, "deliveries": []}
    verdict = await conn.fetchrow(
        "SELECT verdict, reason_code FROM messages WHERE message_id = $1", message_id
    )
    deliveries = await conn.fetch(
        "SELECT d.recipient, d.delivered_to, d.state, d.reason_code, d.updated_at, u.name"
        " FROM deliveries d LEFT JOIN units u ON u.organ_id = d.recipient"
        " WHERE d.message_id = $1 ORDER BY d.recipient",
        message_id,
    )
    return {
        "verdict": verdict["verdict"] if verdict else None,
        "reason_code": verdict["reason_code"] if verdict else None,
        "deliveries": [dict(d) for d in deliveries],
    }


@contextlib.asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A producer for one decision, as the operators' commands make it (`lienthong review`,
    `lienthong replay`): the cluster's admin principal, the one that may write the submit
    topic and every unit topic."""
    made = AIOKafkaProducer(
        **kafka.admin_config(settings).aiokafka(), acks="all", enable_idempotence=True
    )
    with kafka.mapped_errors("cannot reach Kafka"):
        await made.start()
    try:
        yield made
    finally:
        await made.stop()


def router_identity(settings: Settings) -> Identity:
    """The router's key signs the 02 a refusal sends (broker.review.refuse)."""
    return Identity.load(settings.keys_dir / "router", settings.router_id)


def moment(value: str, *, end: bool = False) -> datetime.datetime | None:
    """A date from a filter (YYYY-MM-DD), as the start of that day in Vietnam (the day an
    operator means), or the start of the next day when it ends a period; None when empty."""
    if not value:
        return None
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"{value[:40]!r} is not a date") from None
    start = datetime.datetime.combine(day, datetime.time(), VIETNAM)
    return start + datetime.timedelta(days=1) if end else start
