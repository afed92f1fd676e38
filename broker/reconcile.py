"""Reconciliation: whether the ledger, the registers and the unit topics tell one story.

Each party keeps its own books (the router its ledger, each connector its units' registers,
Kafka the copies it carries), and a fault between them leaves them disagreeing without any
of them noticing. `compare` is the whole judgement, a pure function of rows already read,
so every kind of disagreement is tested with plain data; `lienthong reconcile` reads.

What legitimately differs is not reported: a receiver's 02 (it refused the document, so
never registered it), a record the receiver quarantined (listed by its connector), a unit
no connector hosts (a gateway's), and anything younger than the grace period or whose
status is still in the receiver's outbox: work in flight.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping, Sequence

from kernel.reasons import ReasonCode
from schemas import statuses
from schemas.envelope import status_id

_ANSWERS = ("01", "02", "03", "04", "05", "06")
"""The status codes a receiver moves a delivery with (each a row in its outbox)."""
_NOT_DELIVERED = frozenset({"rejected", "02"})
"""Ledger states of a delivery no register is expected to hold."""


class Kind(enum.StrEnum):
    NOT_REGISTERED = "not_registered"
    """The ledger routed it to a unit whose incoming register never entered it."""
    NOT_ROUTED = "not_routed"
    """An incoming register holds it, the ledger never routed it there."""
    NOT_RECEIVED = "not_received"
    """A sender's outgoing register numbered it, the ledger never received it."""
    NOT_NUMBERED = "not_numbered"
    """The ledger routed a document from a hosted unit whose outgoing register does not
    hold it: a commit the sender's database lost after the document left."""
    REGISTERED_TWICE = "registered_twice"
    """One unit entered the same document (sender, kind, document id) under two numbers."""
    STATE_DIFFERS = "state_differs"
    """The ledger and a register (the receiver's entry, or what the sender heard back)
    disagree on how far a delivery came."""
    REGISTER_GAP = "register_gap"
    """A register's numbers for a year skip some: an entry was lost."""
    NOT_ON_TOPIC = "not_on_topic"
    """The ledger routed it, the unit topic holds no copy."""
    DEAD_LETTER = "dead_letter"
    """An internal error's dead letter nobody replayed or acknowledged, whose message never
    got through."""
    NOT_SENT = "not_sent"
    """A connector's outbox holds a record past the grace period, still unpublished."""


@dataclasses.dataclass(frozen=True, slots=True)
class Discrepancy:
    kind: Kind
    message_id: str | None
    unit: str | None
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """A ledger delivery with its message's verdict."""

    message_id: str
    recipient: str
    delivered_to: str | None
    state: str
    verdict: str
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    unit: str
    year: int
    number: int
    message_id: str
    sender: str
    kind: str
    document_id: str | None
    status: str
    sent_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    unit: str
    year: int
    number: int
    message_id: str
    created_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A status the sender `unit` recorded about its message (outgoing_status)."""

    unit: str
    message_id: str
    recipient: str
    status_code: str


@dataclasses.dataclass(frozen=True, slots=True)
class Counter:
    unit: str
    year: int
    register: str
    last: int


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    message_id: str | None
    sender: str | None
    reason_code: str
    received_at: datetime.datetime
    replay_count: int
    acknowledged: bool = False
    """An operator settled it without a replay (`lienthong reconcile acknowledge`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row: a status queued by `unit` is in flight until sent and past grace."""

    unit: str
    message_id: str
    created_at: datetime.datetime
    sent_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Topic:
    """What a unit topic holds: each message id delivered on it, how many copies.
    `complete` is False when retention removed records the window needs."""

    copies: Mapping[str, int]
    complete: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Books:
    """Everything read, as of `now`; rows for the window from `since` (None: everything)."""

    now: datetime.datetime
    since: datetime.datetime | None
    verdicts: Mapping[str, str]
    deliveries: Sequence[Delivery]
    incoming: Sequence[Incoming]
    outgoing: Sequence[Outgoing]
    answers: Sequence[Answer]
    counters: Sequence[Counter]
    quarantined: frozenset[tuple[str, str]]
    dead_letters: Sequence[DeadLetter]
    outbox: Sequence[Queued]
    hosted: frozenset[str]
    topics: Mapping[str, Topic]
    senders: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The sender of each document the ledger routed, by message id."""


def compare(books: Books, *, grace: datetime.timedelta) -> list[Discrepancy]:
    """Every discrepancy between the books, in a stable order."""
    settled = books.now - grace
    found = [
        *_deliveries(books, settled),
        *_heard(books, settled),
        *_unrouted(books),
        *_unreceived(books, settled),
        *_unnumbered(books),
        *_twice(books.incoming),
        *_gaps(books),
        *_dead_letters(books, settled),
        *_unsent(books, settled),
    ]
    return sorted(found, key=lambda d: (d.kind, d.unit or "", d.message_id or "", d.detail))


def _answerable(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """One delivery per message and unit reached. Recipients redirected to one successor
    (or one redirected to a unit also addressed itself) reach it once: it registers the
    document once and its answers move one of their deliveries (the entitle stage's
    `delivery_of`), the others staying routed. The most advanced speaks for them all."""
    best: dict[tuple[str, str], Delivery] = {}
    for d in deliveries:
        key = (d.message_id, d.delivered_to or f"not delivered to {d.recipient}")
        held = best.get(key)
        if held is None or statuses.RANK.get(d.state, -1) > statuses.RANK.get(held.state, -1):
            best[key] = d
    return list(best.values())


def _in_window(books: Books, moment: datetime.datetime) -> bool:
    """Whether a register entry made at `moment` has its ledger rows among those read (an
    entry is made before the router receives what it sent, or after it routed it)."""
    return books.since is None or moment >= books.since


def _deliveries(books: Books, settled: datetime.datetime) -> Iterable[Discrepancy]:
    """Each settled copy the ledger routed is on its unit's topic and, unless refused or
    quarantined, in its receiver's register at the ledger's state."""
    entries = {(e.unit, e.message_id): e for e in books.incoming}
    # In flight: queued within the grace period (sent or not); an older unsent row is a
    # stuck publisher, listed as not_sent, and does not excuse the delivery.
    pending = {(q.unit, q.message_id) for q in books.outbox if q.created_at > settled}
    for d in _answerable(books.deliveries):
        unit = d.delivered_to
        if unit is None or d.verdict not in ("routing", "routed") or d.updated_at > settled:
            continue
        answering = any((unit, status_id(d.message_id, unit, c)) in pending for c in _ANSWERS)
        topic = books.topics.get(unit)
        if d.verdict == "routed" and topic and topic.complete and d.message_id not in topic.copies:
            yield Discrepancy(
                Kind.NOT_ON_TOPIC, d.message_id, unit, f"routed as {d.state}, no copy on topic"
            )
        if unit not in books.hosted or answering:
            continue
        entry = entries.get((unit, d.message_id))
        if entry is None:
            if d.state not in _NOT_DELIVERED and (unit, d.message_id) not in books.quarantined:
                yield Discrepancy(
                    Kind.NOT_REGISTERED, d.message_id, unit, f"ledger {d.state}, no register entry"
                )
        elif statuses.RANK.get(entry.status) != statuses.RANK.get(d.state):
            yield Discrepancy(
                Kind.STATE_DIFFERS, d.message_id, unit,
                f"ledger {d.state}, register {entry.year}/{entry.number} {entry.status}",
            )  # fmt: skip


def _heard(books: Books, settled: datetime.datetime) -> Iterable[Discrepancy]:
    """The sender's register applies the statuses the ledger applied (schemas.statuses), so
    once the last has reached it both name the same state for each delivery."""
    senders = {o.message_id: o.unit for o in books.outgoing}
    codes: dict[tuple[str, str, str], list[str]] = collections.defaultdict(list)
    for a in books.answers:
        codes[a.unit, a.message_id, a.recipient].append(a.status_code)
    for d in _answerable(books.deliveries):
        unit = senders.get(d.message_id)
        if unit is None or d.state == "rejected" or d.updated_at > settled:
            continue
        answered = {d.recipient, d.delivered_to}
        heard = statuses.state_of(c for r in answered if r for c in codes[unit, d.message_id, r])
        if statuses.RANK.get(heard) != statuses.RANK.get(d.state):
            yield Discrepancy(
                Kind.STATE_DIFFERS, d.message_id, unit,
                f"ledger {d.state} for {d.recipient}, the sender heard {heard}",
            )  # fmt: skip


def _unrouted(books: Books) -> Iterable[Discrepancy]:
    routed = {(d.delivered_to, d.message_id) for d in books.deliveries}
    for e in books.incoming:
        if _in_window(books, e.sent_at) and (e.unit, e.message_id) not in routed:
            yield Discrepancy(
                Kind.NOT_ROUTED, e.message_id, e.unit,
                f"register {e.year}/{e.number} from {e.sender}, no ledger delivery to {e.unit}",
            )  # fmt: skip


def _unreceived(books: Books, settled: datetime.datetime) -> Iterable[Discrepancy]:
    dead = {d.message_id for d in books.dead_letters}
    for o in books.outgoing:
        if (
            _in_window(books, o.created_at)
            and o.created_at <= settled
            and o.message_id not in books.verdicts
            and o.message_id not in dead
        ):
            yield Discrepancy(
                Kind.NOT_RECEIVED, o.message_id, o.unit,
                f"outgoing register {o.year}/{o.number}, not in the ledger",
            )  # fmt: skip


def _unnumbered(books: Books) -> Iterable[Discrepancy]:
    """A hosted unit numbers every document it sends before it leaves (the register and the
    outbox are one commit), so the ledger routing one its register lacks means that entry
    was lost, and its number may have been given again."""
    numbered = {o.message_id for o in books.outgoing}
    for message_id, sender in books.senders.items():
        if sender in books.hosted and message_id not in numbered:
            yield Discrepancy(
                Kind.NOT_NUMBERED, message_id, sender, "routed, not in the outgoing register"
            )


def _twice(incoming: Sequence[Incoming]) -> Iterable[Discrepancy]:
    entries: dict[tuple[str, str, str, str], list[Incoming]] = collections.defaultdict(list)
    for e in incoming:
        # Follow-ups carry their document's id, and a document refused (02) may come again
        # corrected under the same id: only accepted documents are compared.
        if e.document_id is not None and e.kind == "document" and e.status != "02":
            entries[e.unit, e.sender, e.kind, e.document_id].append(e)
    for (unit, sender, kind, document_id), same in entries.items():
        if len(same) > 1:
            numbers = ", ".join(f"{e.year}/{e.number}" for e in sorted(same, key=_number))
            for e in sorted(same, key=_number)[1:]:
                yield Discrepancy(
                    Kind.REGISTERED_TWICE, e.message_id, unit,
                    f"{kind} {document_id} from {sender} entered as {numbers}",
                )  # fmt: skip


def _number(entry: Incoming) -> tuple[int, int]:
    return entry.year, entry.number


def _gaps(books: Books) -> Iterable[Discrepancy]:
    """Numbers run from 1 each calendar year per unit and register, and the counter holds
    the last one given: any number up to it that no entry holds is a lost entry."""
    numbers: dict[tuple[str, int, str], set[int]] = collections.defaultdict(set)
    for e in books.incoming:
        numbers[e.unit, e.year, "in"].add(e.number)
    for o in books.outgoing:
        numbers[o.unit, o.year, "out"].add(o.number)
    last = {(c.unit, c.year, c.register): c.last for c in books.counters}
    for key in sorted(numbers.keys() | last.keys()):
        unit, year, register = key
        held = numbers.get(key, set())
        top = max(max(held, default=0), last.get(key, 0))
        missing = sorted(set(range(1, top + 1)) - held)
        if missing:
            yield Discrepancy(
                Kind.REGISTER_GAP, None, unit,
                f"{register} {year}: no entry numbered {_ranges(missing)}",
            )  # fmt: skip


def _ranges(numbers: Sequence[int]) -> str:
    """1, 2, 3, 7 as "1-3, 7"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _unsent(books: Books, settled: datetime.datetime) -> Iterable[Discrepancy]:
    """A record a connector queued long ago and never published: its publisher is stuck."""
    for q in books.outbox:
        if q.sent_at is None and q.created_at <= settled:
            yield Discrepancy(
                Kind.NOT_SENT, q.message_id, q.unit,
                f"queued {q.created_at:%Y-%m-%d %H:%M:%S} UTC, never published",
            )  # fmt: skip


def _dead_letters(books: Books, settled: datetime.datetime) -> Iterable[Discrepancy]:
    """A dead letter the exchange owes someone: one it failed on (`internal_error`), not
    replayed nor acknowledged, and whose message never got through otherwise. A refusal
    under the rules is settled by the refusal itself: its sender was told (02), or nobody
    proved they sent it; listing every refusal for ever would leave reconcile no clean run."""
    for d in books.dead_letters:
        through = d.message_id is not None and books.verdicts.get(d.message_id) == "routed"
        owed = d.reason_code == ReasonCode.INTERNAL_ERROR and not d.acknowledged
        if owed and d.replay_count == 0 and d.received_at <= settled and not through:
            yield Discrepancy(
                Kind.DEAD_LETTER, d.message_id, d.sender,
                f"dead letter {d.id} ({d.reason_code}) never replayed",
            )  # fmt: skip
