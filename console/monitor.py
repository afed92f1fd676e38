"""What the Department of Information and Communications watches (Articles 8, 11 and 12 of
Decision 37/2018/QĐ-UBND): documents sent and received per day, level and unit, delivery
latency, refusals, held and dead-lettered documents, overdue receipts and due dates, and
the usage report. Pure rules first (the working-day calendar, periods, bars), then the
queries, which count only the units the viewer may read.

Overdue receipts follow Decree 30/2020/NĐ-CP, Article 21.2(c) as the regulation digest
(../shared/reference/REGULATION.md) gives it: a unit tells the sender the same day that an
electronic document arrived, with the system's function, which here is the 01 status. Its
connector sends the 01 when it enters the document in the incoming register. "The same
day" is read as the working day: a document that arrives before 17:00 on a working day
is due its 01 by 17:00 that day; one that arrives later, or on a weekend or a public
holiday, by 17:00 of the next working day (the margin that, by our reading of the decree,
Article 23.1 gives for presenting it: "at the latest the next working day"; the digest
quotes neither article's text). Working days are Monday to Friday in
Asia/Ho_Chi_Minh time, less HOLIDAYS, plus the Saturdays of MAKE_UP_DAYS.

broker.gauges.OVERDUE_RECEIPTS counts the same deliveries (delivered, still `routed`: no 01
or later status has moved them) but on the calendar: a delivery is overdue there once the
calendar day it was delivered on has ended, holidays and office hours ignored. The console
uses the working-day deadline, so the two differ for documents delivered after 17:00, on
Fridays and before holidays.

Due dates are the edXML DueDate, which the connector copies into the incoming register's
`due_date` at registration (migration 0022); a document not yet in its recipient's register
has no due date here.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from console import pdf
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
END_OF_WORKING_DAY = datetime.time(17, 0)
LEVELS = ("central", "province", "district", "commune")
DEFAULT_PERIOD_DAYS = 30
MAX_PERIOD_DAYS = 1096
"""Three years: more than any report needs, and a bound on what one page makes PostgreSQL
count."""
MAX_LISTED = 500
"""Rows an overdue table shows; the count above it says how many there are in all."""
BAR_STEPS = 20

_D = datetime.date


def _days(first: datetime.date, last: datetime.date) -> frozenset[datetime.date]:
    return frozenset(first + datetime.timedelta(days=n) for n in range((last - first).days + 1))


HOLIDAYS: frozenset[datetime.date] = frozenset().union(
    # 2025: Tết Dương lịch; Tết Nguyên đán Ất Tỵ (25 Jan - 2 Feb, civil servants' schedule);
    # Giỗ Tổ Hùng Vương (10/3 lunar); 30/4 and 1/5 (2 May swapped with Saturday 17 May);
    # Quốc khánh (30 Aug - 2 Sep).
    {_D(2025, 1, 1), _D(2025, 4, 7)},
    _days(_D(2025, 1, 25), _D(2025, 2, 2)),
    _days(_D(2025, 4, 30), _D(2025, 5, 4)),
    _days(_D(2025, 8, 30), _D(2025, 9, 2)),
    # 2026: Tết Dương lịch; Tết Nguyên đán Bính Ngọ (14 - 22 Feb); Giỗ Tổ falls on Sunday
    # 26 April, made up on Monday 27 April; 30/4 and 1/5; Quốc khánh 2/9 with 1/9.
    {_D(2026, 1, 1), _D(2026, 4, 27), _D(2026, 4, 30), _D(2026, 5, 1)},
    _days(_D(2026, 2, 14), _D(2026, 2, 22)),
    {_D(2026, 9, 1), _D(2026, 9, 2)},
    # 2027 (no schedule issued yet; the Labour Code's days, weekend days made up on the
    # next working day): Tết Dương lịch; Tết Nguyên đán Đinh Mùi (4 - 10 Feb); Giỗ Tổ
    # (16 April); 30/4, 1/5 (a Saturday, made up on Monday 3 May); Quốc khánh 2/9 with 3/9.
    {_D(2027, 1, 1), _D(2027, 4, 16), _D(2027, 4, 30), _D(2027, 5, 1), _D(2027, 5, 3)},
    _days(_D(2027, 2, 4), _D(2027, 2, 10)),
    {_D(2027, 9, 2), _D(2027, 9, 3)},
)
"""Vietnamese public holidays with the days off the Government fixed around them; add a
year's schedule here when the Ministry of Home Affairs announces it."""

MAKE_UP_DAYS: frozenset[datetime.date] = frozenset({_D(2025, 5, 17)})
"""Saturdays worked in exchange for a weekday given off (2 May 2025)."""


def is_working_day(
    day: datetime.date,
    holidays: frozenset[datetime.date] = HOLIDAYS,
    make_up: frozenset[datetime.date] = MAKE_UP_DAYS,
) -> bool:
    if day in make_up:
        return True
    return day.weekday() < 5 and day not in holidays


def next_working_day(
    day: datetime.date,
    holidays: frozenset[datetime.date] = HOLIDAYS,
    make_up: frozenset[datetime.date] = MAKE_UP_DAYS,
) -> datetime.date:
    """The first working day after `day`."""
    day += datetime.timedelta(days=1)
    while not is_working_day(day, holidays, make_up):
        day += datetime.timedelta(days=1)
    return day


def _end_of(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, END_OF_WORKING_DAY, LOCAL)


def receipt_deadline(
    arrived: datetime.datetime,
    holidays: frozenset[datetime.date] = HOLIDAYS,
    make_up: frozenset[datetime.date] = MAKE_UP_DAYS,
) -> datetime.datetime:
    """When the 01 for a document delivered at `arrived` is due (Article 21.2(c), read as
    in the module's docstring): the first end of a working day after it arrived."""
    local = arrived.astimezone(LOCAL)
    day = local.date()
    if is_working_day(day, holidays, make_up) and local < _end_of(day):
        return _end_of(day)
    return _end_of(next_working_day(day, holidays, make_up))


def overdue_before(
    now: datetime.datetime,
    holidays: frozenset[datetime.date] = HOLIDAYS,
    make_up: frozenset[datetime.date] = MAKE_UP_DAYS,
) -> datetime.datetime:
    """The last end of a working day before `now`: a delivery without its 01 is overdue at
    `now` exactly when it arrived before this moment (its deadline is at or before it)."""
    local = now.astimezone(LOCAL)
    day = local.date()
    if is_working_day(day, holidays, make_up) and _end_of(day) < local:
        return _end_of(day)
    day -= datetime.timedelta(days=1)
    while not is_working_day(day, holidays, make_up):
        day -= datetime.timedelta(days=1)
    return _end_of(day)


def is_receipt_overdue(arrived: datetime.datetime, now: datetime.datetime) -> bool:
    return receipt_deadline(arrived) < now


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days, both ends included."""

    first: datetime.date
    last: datetime.date

    @property
    def start(self) -> datetime.datetime:
        return datetime.datetime.combine(self.first, datetime.time(), LOCAL)

    @property
    def end(self) -> datetime.datetime:
        """The moment after the period (midnight ending its last day)."""
        return datetime.datetime.combine(
            self.last + datetime.timedelta(days=1), datetime.time(), LOCAL
        )

    def days(self) -> list[datetime.date]:
        return sorted(_days(self.first, self.last))

    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(text: str, name: str) -> datetime.date:
    if _ISO_DATE.fullmatch(text):
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            pass
    raise Rejected(
        ReasonCode.REQUEST_MALFORMED, f"{name!r} must be a date written YYYY-MM-DD, not {text!r}"
    )


def period_of(query: Mapping[str, str], today: datetime.date) -> Period:
    """The period a page's `from` and `to` ask for; the last 30 days up to `today` by
    default. Anything but two dates in order, at most MAX_PERIOD_DAYS apart, is refused."""
    last_text = query.get("to", "").strip()[:40]
    first_text = query.get("from", "").strip()[:40]
    last = _date(last_text, "to") if last_text else today
    first = (
        _date(first_text, "from")
        if first_text
        else last - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    )
    if first > last:
        raise Rejected(
            ReasonCode.REQUEST_MALFORMED, f"the period starts ({first}) after it ends ({last})"
        )
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise Rejected(
            ReasonCode.REQUEST_MALFORMED, f"a period spans at most {MAX_PERIOD_DAYS} days"
        )
    return Period(first, last)


def bar(value: float, largest: float) -> str:
    """The CSS class of a bar `value` long on a scale whose longest bar is `largest`
    (console/static/monitor.css: s0 ... s20); any value above 0 shows at least a sliver."""
    if value <= 0 or largest <= 0:
        return "s0"
    return f"s{max(1, min(BAR_STEPS, round(BAR_STEPS * value / largest)))}"


def duration(seconds: float | None) -> str:
    """Hours, minutes and seconds to a tenth (`27:04:09.3`: a delivery takes well under a
    second), or a dash when nothing was measured."""
    if seconds is None:
        return "—"
    tenths = max(0, round(seconds * 10))
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours}:{minutes:02d}:{rest // 10:02d}.{rest % 10}"


def local_time(moment: datetime.datetime | None) -> str:
    return moment.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M") if moment else ""


def local_date(day: datetime.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


# Queries. `scope` is the viewer's readable units; a row of another unit is never counted.


@dataclasses.dataclass(frozen=True, slots=True)
class Day:
    day: datetime.date
    sent: int
    received: int


@dataclasses.dataclass(frozen=True, slots=True)
class UnitUsage:
    organ_id: str
    name: str
    level: str
    sent: int = 0
    received: int = 0
    refused: int = 0
    receipts: int = 0
    done: int = 0
    logins: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Latency:
    what: str
    documents: int
    median: float | None
    p90: float | None
    longest: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    reason_code: str
    by_recipient: bool
    count: int

    @property
    def known(self) -> ReasonCode | None:
        """The reason as this exchange names it; a recipient's 02 may carry any code."""
        try:
            return ReasonCode(self.reason_code)
        except ValueError:
            return None


@dataclasses.dataclass(frozen=True, slots=True)
class Backlog:
    held_waiting: int
    held_in_period: int
    held_released: int
    held_rejected: int
    dead_in_period: int
    dead_waiting: int


@dataclasses.dataclass(frozen=True, slots=True)
class OverdueReceipt:
    message_id: str
    recipient: str
    recipient_name: str
    sender: str
    sender_name: str
    document_id: str | None
    subject: str | None
    arrived_at: datetime.datetime
    deadline: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class PastDue:
    unit: str
    unit_name: str
    year: int
    number: int
    message_id: str
    sender: str
    sender_name: str
    document_id: str | None
    subject: str | None
    received_at: datetime.datetime
    status: str
    due: datetime.date


async def days(conn: Connection, scope: Sequence[str], period: Period) -> list[Day]:
    """Documents the router received from units in scope (sent) and delivered to them
    (received: its `routed` step), per local day, every day of the period listed."""
    rows = await conn.fetch(
        "SELECT day, sum(sent)::int AS sent, sum(received)::int AS received FROM ("
        " SELECT (first_received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day,"
        " 1 AS sent, 0 AS received FROM messages"
        " WHERE kind <> 'status' AND sender = ANY($1::text[])"
        " AND first_received_at >= $2 AND first_received_at < $3"
        " UNION ALL"
        " SELECT (e.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, 0, 1"
        " FROM delivery_events e JOIN deliveries d USING (message_id, recipient)"
        " WHERE e.state = 'routed' AND d.delivered_to = ANY($1::text[])"
        " AND e.at >= $2 AND e.at < $3) AS counted GROUP BY day",
        list(scope),
        period.start,
        period.end,
    )
    found = {row["day"]: (row["sent"], row["received"]) for row in rows}
    return [Day(day, *found.get(day, (0, 0))) for day in period.days()]


async def units(conn: Connection, scope: Sequence[str], period: Period) -> list[UnitUsage]:
    """Per unit in scope: documents sent, received, refused by the router, 01 and 06 it
    gave, and console logins of its accounts in the period (Article 12's usage)."""
    rows = await conn.fetch(
        "WITH sent AS (SELECT sender AS unit, count(*) AS sent,"
        " count(*) FILTER (WHERE verdict = 'rejected') AS refused FROM messages"
        " WHERE kind <> 'status' AND sender = ANY($1::text[])"
        " AND first_received_at >= $2 AND first_received_at < $3 GROUP BY sender),"
        " steps AS (SELECT d.delivered_to AS unit,"
        " count(*) FILTER (WHERE e.state = 'routed') AS received,"
        " count(*) FILTER (WHERE e.state = '01') AS receipts,"
        " count(*) FILTER (WHERE e.state = '06') AS done"
        " FROM delivery_events e JOIN deliveries d USING (message_id, recipient)"
        " WHERE e.state IN ('routed', '01', '06') AND d.delivered_to = ANY($1::text[])"
        " AND e.reason_code IS DISTINCT FROM 'status_backwards'"
        " AND e.at >= $2 AND e.at < $3 GROUP BY d.delivered_to),"
        " logins AS (SELECT a.unit, count(*) AS logins FROM account_events v"
        " JOIN accounts a USING (username) WHERE v.event = 'login'"
        " AND a.unit = ANY($1::text[]) AND v.at >= $2 AND v.at < $3 GROUP BY a.unit)"
        " SELECT u.organ_id, u.name, u.level, coalesce(s.sent, 0)::int AS sent,"
        " coalesce(t.received, 0)::int AS received, coalesce(s.refused, 0)::int AS refused,"
        " coalesce(t.receipts, 0)::int AS receipts, coalesce(t.done, 0)::int AS done,"
        " coalesce(l.logins, 0)::int AS logins"
        " FROM units u LEFT JOIN sent s ON s.unit = u.organ_id"
        " LEFT JOIN steps t ON t.unit = u.organ_id LEFT JOIN logins l ON l.unit = u.organ_id"
        " WHERE u.organ_id = ANY($1::text[]) ORDER BY u.organ_id",
        list(scope),
        period.start,
        period.end,
    )
    return [UnitUsage(**dict(row)) for row in rows]


def levels(rows: Iterable[UnitUsage]) -> list[tuple[str, int, UnitUsage]]:
    """Per level (central to commune): how many units, and their sums."""
    totals = {level: (0, UnitUsage("", level, level)) for level in LEVELS}
    for row in rows:
        count, total = totals[row.level]
        totals[row.level] = (
            count + 1,
            dataclasses.replace(
                total,
                sent=total.sent + row.sent,
                received=total.received + row.received,
                refused=total.refused + row.refused,
                receipts=total.receipts + row.receipts,
                done=total.done + row.done,
                logins=total.logins + row.logins,
            ),
        )
    return [(level, count, total) for level, (count, total) in totals.items()]


async def latencies(conn: Connection, scope: Sequence[str], period: Period) -> list[Latency]:
    """From the router's first receipt of a document to its delivery to a unit in scope
    (the `routed` step) and to that unit's 01, for documents received in the period."""
    row = await conn.fetchrow(
        "WITH measured AS (SELECT"
        " greatest(0, extract(epoch FROM r.at - m.first_received_at)) AS delivered,"
        " CASE WHEN a.at IS NOT NULL"  # greatest() would make a missing 01 a 0
        " THEN greatest(0, extract(epoch FROM a.at - m.first_received_at)) END AS acknowledged"
        " FROM deliveries d JOIN messages m USING (message_id)"
        " JOIN delivery_events r ON r.message_id = d.message_id"
        " AND r.recipient = d.recipient AND r.state = 'routed'"
        " LEFT JOIN delivery_events a ON a.message_id = d.message_id"
        " AND a.recipient = d.recipient AND a.state = '01'"
        " AND a.reason_code IS DISTINCT FROM 'status_backwards'"
        " WHERE m.kind <> 'status' AND d.delivered_to = ANY($1::text[])"
        " AND m.first_received_at >= $2 AND m.first_received_at < $3)"
        " SELECT count(delivered) AS n_delivered,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY delivered) AS median_delivered,"
        " percentile_cont(0.9) WITHIN GROUP (ORDER BY delivered) AS p90_delivered,"
        " max(delivered) AS max_delivered, count(acknowledged) AS n_acknowledged,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY acknowledged) AS median_acknowledged,"
        " percentile_cont(0.9) WITHIN GROUP (ORDER BY acknowledged) AS p90_acknowledged,"
        " max(acknowledged) AS max_acknowledged FROM measured",
        list(scope),
        period.start,
        period.end,
    )
    assert row is not None
    return [
        Latency(
            what,
            row[f"n_{what}"],
            _seconds(row[f"median_{what}"]),
            _seconds(row[f"p90_{what}"]),
            _seconds(row[f"max_{what}"]),
        )
        for what in ("delivered", "acknowledged")
    ]


def _seconds(value: object) -> float | None:
    return None if value is None else float(str(value))


async def refusals(conn: Connection, scope: Sequence[str], period: Period) -> list[Refusal]:
    """Refusals by reason code: whole documents of senders in scope the router refused, and
    single deliveries refused (a 02) by the router or by the recipient, where the sender
    or the recipient is in scope."""
    rows = await conn.fetch(
        "SELECT reason_code, by_recipient, count(*)::int AS n FROM ("
        " SELECT coalesce(reason_code, '') AS reason_code, false AS by_recipient FROM messages"
        " WHERE verdict = 'rejected' AND kind <> 'status' AND sender = ANY($1::text[])"
        " AND first_received_at >= $2 AND first_received_at < $3"
        " UNION ALL"
        " SELECT coalesce(e.reason_code, ''), e.status_message_id IS NOT NULL"
        " FROM delivery_events e JOIN messages m USING (message_id)"
        " LEFT JOIN deliveries d USING (message_id, recipient)"
        " WHERE e.state = '02' AND e.reason_code IS DISTINCT FROM 'status_backwards'"
        " AND (m.sender = ANY($1::text[])"
        " OR d.delivered_to = ANY($1::text[])) AND e.at >= $2 AND e.at < $3) AS refused"
        " GROUP BY reason_code, by_recipient ORDER BY n DESC, reason_code",
        list(scope),
        period.start,
        period.end,
    )
    return [Refusal(row["reason_code"], row["by_recipient"], row["n"]) for row in rows]


async def backlog(conn: Connection, scope: Sequence[str], period: Period) -> Backlog:
    """Held for review (waiting now; held in the period and how they ended) and dead
    letters (in the period; not yet replayed), of senders in scope. A dead letter whose
    signature did not hold names its sender only as claimed, and one naming none is in no
    unit's count."""
    held = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'held') AS waiting,"
        " count(*) FILTER (WHERE held_at >= $2 AND held_at < $3) AS in_period,"
        " count(*) FILTER (WHERE held_at >= $2 AND held_at < $3 AND state = 'released')"
        " AS released,"
        " count(*) FILTER (WHERE held_at >= $2 AND held_at < $3 AND state = 'rejected')"
        " AS rejected FROM held WHERE sender = ANY($1::text[])",
        list(scope),
        period.start,
        period.end,
    )
    dead = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE received_at >= $2 AND received_at < $3) AS in_period,"
        " count(*) FILTER (WHERE replayed_at IS NULL) AS waiting FROM dead_letters"
        " WHERE sender = ANY($1::text[])",
        list(scope),
        period.start,
        period.end,
    )
    assert held is not None
    assert dead is not None
    return Backlog(
        held_waiting=held["waiting"],
        held_in_period=held["in_period"],
        held_released=held["released"],
        held_rejected=held["rejected"],
        dead_in_period=dead["in_period"],
        dead_waiting=dead["waiting"],
    )


async def overdue_receipts(
    conn: Connection, scope: Sequence[str], now: datetime.datetime
) -> tuple[int, list[OverdueReceipt]]:
    """Deliveries to units in scope still without a 01 after their deadline: how many, and
    the MAX_LISTED waiting longest. They are broker.gauges.OVERDUE_RECEIPTS's deliveries
    (delivered, no status since), cut at the working-day deadline instead of the calendar
    day."""
    rows = await conn.fetch(
        "SELECT count(*) OVER () AS total, d.message_id, d.delivered_to AS recipient,"
        " d.updated_at AS arrived_at, m.sender, m.document_id,"
        " coalesce(o.subject, (SELECT i.subject FROM incoming_register i"
        " WHERE i.unit = d.delivered_to AND i.message_id = d.message_id)) AS subject,"
        " coalesce(ru.name, '') AS recipient_name, coalesce(su.name, '') AS sender_name"
        " FROM deliveries d JOIN messages m USING (message_id)"
        " LEFT JOIN outgoing_register o ON o.message_id = d.message_id"
        " LEFT JOIN units ru ON ru.organ_id = d.delivered_to"
        " LEFT JOIN units su ON su.organ_id = m.sender"
        " WHERE d.state = 'routed' AND m.verdict = 'routed' AND m.kind <> 'status'"
        " AND d.delivered_to = ANY($1::text[]) AND d.updated_at < $2"
        " ORDER BY d.updated_at, d.message_id, d.delivered_to LIMIT $3",
        list(scope),
        overdue_before(now),
        MAX_LISTED,
    )
    total = rows[0]["total"] if rows else 0
    return total, [
        OverdueReceipt(
            **{k: v for k, v in dict(row).items() if k != "total"},
            deadline=receipt_deadline(row["arrived_at"]),
        )
        for row in rows
    ]


async def past_due(
    conn: Connection, scope: Sequence[str], today: datetime.date
) -> tuple[int, list[PastDue]]:
    """Documents in the incoming registers of units in scope whose DueDate has passed
    (before `today`, local) with no 06 from that unit; refused ones (02) are not theirs to
    finish. Counted in full, listed up to MAX_LISTED, most overdue first."""
    where = (
        " FROM incoming_register r LEFT JOIN units u ON u.organ_id = r.unit"
        " LEFT JOIN units s ON s.organ_id = r.sender"
        " WHERE r.unit = ANY($1::text[]) AND r.due_date < $2 AND r.kind <> 'status'"
        " AND r.status NOT IN ('02', '06')"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = r.message_id"
        " AND d.delivered_to = r.unit AND d.state IN ('02', '06'))"
    )
    total = await conn.fetchval("SELECT count(*)" + where, list(scope), today)
    rows = await conn.fetch(
        "SELECT r.unit, coalesce(u.name, '') AS unit_name, r.year, r.number, r.message_id,"
        " r.sender, coalesce(s.name, '') AS sender_name, r.document_id, r.subject,"
        " r.received_at, r.status, r.due_date AS due" + where
        + " ORDER BY r.due_date, r.unit, r.year, r.number LIMIT $3",
        list(scope),
        today,
        MAX_LISTED,
    )  # fmt: skip
    return int(total), [PastDue(**dict(row)) for row in rows]


Translate = Callable[[str], str]


def report_pdf(
    rows: Sequence[UnitUsage],
    period: Period,
    *,
    made_at: datetime.datetime,
    made_by: str,
    translate: Translate,
) -> bytes:
    """The usage report as the Department files it (Article 12): totals per level, then
    every unit."""
    _ = translate
    title = _("Report on the use of the document exchange system")
    span = [_("From"), local_date(period.first), _("to"), local_date(period.last)]
    basis = [_("Article 12, Decision 37/2018/QĐ-UBND"), _("Made at"), local_time(made_at)]
    document = pdf.document(title, landscape=True)
    pdf.heading(document, [title.upper(), " ".join(span)])
    document.set_font(pdf.FAMILY, "I", 9)
    document.cell(0, 5, f"{basis[0]} · {basis[1]} {basis[2]} · {made_by}")
    document.ln(8)
    headings = [
        _("Documents sent"),
        _("Documents received"),
        _("Refused"),
        _("Receipts (01)"),
        _("Done (06)"),
        _("Console logins"),
    ]
    level_names = level_labels(_)
    pdf.heading(document, [_("By level")], size=11)
    pdf.table(
        document,
        [_("Level"), _("Units"), *headings],
        [
            [level_names.get(level, level), str(count), *_figures(total)]
            for level, count, total in levels(rows)
        ],
        widths=(40, 20, 25, 25, 25, 25, 25, 25),
    )
    document.ln(5)
    pdf.heading(document, [_("By unit")], size=11)
    pdf.table(
        document,
        [_("Unit"), _("Code"), _("Level"), *headings],
        [
            [row.name, row.organ_id, level_names.get(row.level, row.level), *_figures(row)]
            for row in rows
        ],
        widths=(70, 30, 25, 22, 22, 22, 22, 22, 22),
    )
    return pdf.as_bytes(document)


def level_labels(translate: Translate) -> dict[str, str]:
    _ = translate
    return {
        "central": _("Central"),
        "province": _("Province"),
        "district": _("District"),
        "commune": _("Commune"),
    }


def _figures(row: UnitUsage) -> list[str]:
    return [
        str(n) for n in (row.sent, row.received, row.refused, row.receipts, row.done, row.logins)
    ]
