"""The registers of Decree 30/2020 as the console shows, searches and prints them.

Each unit keeps an incoming register (Sổ đăng ký văn bản đến) and an outgoing one (Sổ đăng
ký văn bản đi); Article 10.3 of the regulation has them printed every quarter. The printed
and exported forms carry the Decree's columns in its order and its Vietnamese, whatever the
viewer's language: they are the unit's official register. The columns a person signs or
fills by hand on paper (who handles it, the signature on receipt, where the filed copy
stays) are left blank.

A document's page puts together what the ledger, the sender's register and each recipient's
register say about it; each part is shown only to a viewer who may read that party's
register (see `document`).

Searches take GET parameters, every one validated here (`parse_search`); SQL is built from
constant fragments with bind parameters only. Dates are Vietnam's calendar days: a quarter
is three months of Asia/Ho_Chi_Minh time, as the register years are.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import enum
import io
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import asyncpg

from connectors.registers import VIETNAM
from console import pdf
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import statuses

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_TEXT = 200
FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The years a search or an export may name: no register is older than the exchange."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a CSV cell as a formula (OWASP's list)."""
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

_NUMBER = re.compile(r"^[0-9]{1,9}$")
_YEAR = re.compile(r"^[0-9]{4}$")
_QUARTER = re.compile(r"^[1-4]$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SEARCH_FIELDS = frozenset(
    {"number", "notation", "from", "to", "party", "subject", "year", "quarter", "page"}
)
_PERIOD_FIELDS = frozenset({"year", "quarter"})


def _(text: str) -> str:
    """Marks a text for the catalogue (tests/unit/test_console_i18n.py); the page
    translates it in the viewer's language."""
    return text


LABELS = {
    "message": _("Received by the exchange"),
    "registered_out": _("Entered in the outgoing register"),
    "registered_in": _("Entered in the incoming register"),
    "recall_requested": _("Recall requested by the sender"),
    "revoked": _("Revoked by the sender"),
    "routing": _("Being routed"),
    "routed": _("Routed"),
    "rejected": _("Refused by the exchange"),
    "redirected": _("Redirected to the successor unit"),
    "held": _("Held for review"),
    "00": _("00 Notice from the exchange"),
    "01": _("01 Arrived"),
    "02": _("02 Refused"),
    "03": _("03 Accepted"),
    "04": _("04 Assigned"),
    "05": _("05 In progress"),
    "06": _("06 Done"),
    "13": _("13 Recall requested"),
    "15": _("15 Change agreed"),
    "16": _("16 Change refused"),
    "document": _("document"),
    "revoke": _("revoke"),
    "update": _("update"),
    "replace": _("replace"),
    "status": _("status"),
}
"""What a state, a status code, a timeline event or a message kind is called on a page."""
SOURCES = {
    "ledger": _("Exchange ledger"),
    "sender": _("Sender's register"),
    "recipient": _("Recipient's register"),
}
_VI_KINDS = {
    "revoke": "Văn bản thu hồi",
    "update": "Văn bản cập nhật",
    "replace": "Văn bản thay thế",
}


class Direction(enum.StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


def direction(value: str) -> Direction:
    try:
        return Direction(value)
    except ValueError:
        raise Rejected(ReasonCode.NOT_FOUND, f"{value!r} is not a register") from None


INCOMING_COLUMNS = (
    "Ngày đến",
    "Số đến",
    "Tác giả",
    "Số, ký hiệu",
    "Ngày tháng",
    "Tên loại và trích yếu nội dung",
    "Đơn vị hoặc người nhận",
    "Ký nhận",
    "Ghi chú",
)
"""Decree 30/2020, Appendix IV: Sổ đăng ký văn bản đến."""
INCOMING_WIDTHS = (20, 13, 38, 30, 20, 70, 28, 18, 30)
OUTGOING_COLUMNS = (
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Người ký",
    "Nơi nhận văn bản",
    "Đơn vị, người nhận bản lưu",
    "Số lượng bản",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
)
"""Decree 30/2020, Appendix III: Sổ đăng ký văn bản đi."""
OUTGOING_WIDTHS = (28, 20, 62, 28, 42, 22, 13, 18, 14, 20)
TITLES = {
    Direction.INCOMING: "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN",
    Direction.OUTGOING: "SỔ ĐĂNG KÝ VĂN BẢN ĐI",
}


def _malformed(field: str, problem: str) -> Rejected:
    return Rejected(ReasonCode.REQUEST_MALFORMED, f"the search field {field!r} {problem}")


def _single(items: Iterable[tuple[str, str]], allowed: frozenset[str]) -> dict[str, str]:
    """The query's fields, each at most once and each one `allowed`; empty ones dropped
    (a GET form sends its empty fields)."""
    fields: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise Rejected(ReasonCode.REQUEST_MALFORMED, f"{name[:40]!r} is not a search field")
        if name in fields:
            raise _malformed(name, "is given twice")
        fields[name] = value
    return {name: value.strip() for name, value in fields.items() if value.strip()}


def _text(fields: dict[str, str], name: str) -> str:
    value = unicodedata.normalize("NFC", fields.get(name, ""))
    if len(value) > MAX_TEXT:
        raise _malformed(name, f"is longer than {MAX_TEXT} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise _malformed(name, "holds control characters")
    return value


def _integer(
    fields: dict[str, str], name: str, pattern: re.Pattern[str], low: int, high: int
) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not pattern.fullmatch(value) or not low <= int(value) <= high:
        raise _malformed(name, f"must be a whole number from {low} to {high}")
    return int(value)


def _date(fields: dict[str, str], name: str) -> datetime.date | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise _malformed(name, "must be a date written YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise _malformed(name, f"must be a date from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def quarter_bounds(year: int, quarter: int) -> tuple[datetime.date, datetime.date]:
    """The quarter's first day and the first day after it."""
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= quarter <= 4):
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"there is no quarter {quarter} of {year}")
    first = datetime.date(year, 3 * quarter - 2, 1)
    after = (
        datetime.date(year + 1, 1, 1) if quarter == 4 else datetime.date(year, 3 * quarter + 1, 1)
    )
    return first, after


def quarter_of(moment: datetime.datetime) -> tuple[int, int]:
    """The year and quarter of `moment` in Vietnam."""
    local = moment.astimezone(VIETNAM)
    return local.year, (local.month - 1) // 3 + 1


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=VIETNAM)


@dataclasses.dataclass(frozen=True, slots=True)
class Search:
    """What a clerk looks for in one register: all given fields must match."""

    number: int | None = None
    """The register number (số đến, số đi) or the document's own code number."""
    notation: str = ""
    since: datetime.date | None = None
    until: datetime.date | None = None
    """Inclusive: the whole of that day."""
    party: str = ""
    """The sender of an incoming document, a recipient of an outgoing one: a unit code or
    part of a name."""
    subject: str = ""
    year: int | None = None
    quarter: int | None = None
    page: int = 1

    def window(self) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """The times searched, [start, end): the date range within the year or quarter."""
        starts: list[datetime.datetime] = []
        ends: list[datetime.datetime] = []
        if self.since is not None:
            starts.append(_midnight(self.since))
        if self.until is not None:
            ends.append(_midnight(self.until + datetime.timedelta(days=1)))
        if self.year is not None:
            if self.quarter is not None:
                first, after = quarter_bounds(self.year, self.quarter)
            else:
                first, after = datetime.date(self.year, 1, 1), datetime.date(self.year + 1, 1, 1)
            starts.append(_midnight(first))
            ends.append(_midnight(after))
        return max(starts, default=None), min(ends, default=None)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def query(self, *, page: int | None = None) -> str:
        """This search as a query string (for the pager's links)."""
        fields: dict[str, Any] = {
            "number": self.number,
            "notation": self.notation,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "party": self.party,
            "subject": self.subject,
            "year": self.year,
            "quarter": self.quarter,
            "page": page if page is not None else self.page,
        }
        fields["page"] = fields["page"] if fields["page"] > 1 else None
        return urlencode({k: v for k, v in fields.items() if v not in (None, "")})


def parse_search(items: Iterable[tuple[str, str]]) -> Search:
    """A search from a query string's fields; Rejected (request_malformed) naming the
    field at the first one that is not what it should be."""
    fields = _single(items, _SEARCH_FIELDS)
    search = Search(
        number=_integer(fields, "number", _NUMBER, 1, 999_999_999),
        notation=_text(fields, "notation"),
        since=_date(fields, "from"),
        until=_date(fields, "to"),
        party=_text(fields, "party"),
        subject=_text(fields, "subject"),
        year=_integer(fields, "year", _YEAR, FIRST_YEAR, LAST_YEAR),
        quarter=_integer(fields, "quarter", _QUARTER, 1, 4),
        page=_integer(fields, "page", _NUMBER, 1, MAX_PAGE) or 1,
    )
    if search.since is not None and search.until is not None and search.since > search.until:
        raise _malformed("from", "is after 'to'")
    if search.quarter is not None and search.year is None:
        raise _malformed("quarter", "needs a year")
    return search


def parse_period(items: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """The year and quarter an export names; both are required."""
    fields = _single(items, _PERIOD_FIELDS)
    year = _integer(fields, "year", _YEAR, FIRST_YEAR, LAST_YEAR)
    quarter = _integer(fields, "quarter", _QUARTER, 1, 4)
    if year is None or quarter is None:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, "an export names a year and a quarter")
    return year, quarter


def message_id(value: str) -> str:
    """A document's id as the exchange gives it: a UUID, in its canonical spelling."""
    try:
        parsed = uuid.UUID(value) if len(value) == 36 else None
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise Rejected(ReasonCode.MESSAGE_ID_INVALID, f"{value[:60]!r} is not a document's id")
    return value


def _like(text: str) -> str:
    """`text` anywhere, as an ILIKE pattern (its own % _ and \\ taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def neutralised(cell: str) -> str:
    """A CSV cell a spreadsheet will show as text, never run as a formula: also when
    blanks or a line break come first, which some spreadsheets skip before reading one."""
    return f"'{cell}" if cell.lstrip(" \n\v\f").startswith(FORMULA_STARTS) else cell


def day(value: datetime.date | datetime.datetime | None) -> str:
    """dd/mm/yyyy, a moment's day in Vietnam, as the register forms write dates."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(VIETNAM).date()
    return value.strftime("%d/%m/%Y")


def moment(value: datetime.datetime | None) -> str:
    """HH:MM dd/mm/yyyy in Vietnam's time."""
    if value is None:
        return ""
    return value.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


def notation_of(code_number: str | None, code_notation: str | None, document_id: str | None) -> str:
    """`number/notation` as the document writes it (125/UBND-VP); for an entry registered
    before those columns existed, the last field of its DocumentId."""
    if code_number or code_notation:
        return "/".join(part for part in (code_number, code_notation) if part)
    parts = (document_id or "").split(",")
    return parts[2].strip() if len(parts) == 3 else ""


def _type_and_summary(document_type: str | None, subject: str | None) -> str:
    kind, summary = (document_type or "").strip(), (subject or "").strip()
    if kind and not summary.casefold().startswith(kind.casefold()):
        return f"{kind} {summary}".strip()
    return summary


@dataclasses.dataclass(frozen=True, slots=True)
class IncomingEntry:
    year: int
    number: int
    message_id: str
    kind: str
    sender: str
    sender_name: str | None
    author: str | None
    document_id: str | None
    code_number: str | None
    code_notation: str | None
    promulgated_on: datetime.date | None
    document_type: str | None
    subject: str | None
    signer: str | None
    due_date: datetime.date | None
    received_at: datetime.datetime
    status: str
    redirected_from: str | None
    paper_copy_required: bool
    recall_requested_at: datetime.datetime | None
    revoked_at: datetime.datetime | None

    @property
    def notation(self) -> str:
        return notation_of(self.code_number, self.code_notation, self.document_id)

    @property
    def from_whom(self) -> str:
        return self.author or self.sender_name or self.sender

    @property
    def summary(self) -> str:
        return _type_and_summary(self.document_type, self.subject)

    def notes(self) -> list[str]:
        notes = []
        if self.kind in _VI_KINDS:
            notes.append(_VI_KINDS[self.kind])
        if self.redirected_from:
            notes.append(f"Gửi {self.redirected_from}, chuyển đơn vị kế thừa")
        if self.paper_copy_required:
            notes.append("Kèm bản giấy")
        if self.due_date:
            notes.append(f"Hạn xử lý {day(self.due_date)}")
        if self.status == "02":
            notes.append("Đã từ chối (02)")
        if self.recall_requested_at:
            notes.append(f"Bên gửi đề nghị thu hồi ngày {day(self.recall_requested_at)}")
        if self.revoked_at:
            notes.append(f"Đã thu hồi ngày {day(self.revoked_at)}")
        return notes

    def form_row(self) -> list[str]:
        """The entry in the Decree's columns (INCOMING_COLUMNS)."""
        return [
            day(self.received_at),
            str(self.number),
            self.from_whom,
            self.notation,
            day(self.promulgated_on),
            self.summary,
            "",
            "",
            "; ".join(self.notes()),
        ]


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingEntry:
    year: int
    number: int
    message_id: str
    kind: str
    document_id: str | None
    code_number: str | None
    code_notation: str | None
    promulgated_on: datetime.date | None
    document_type: str | None
    subject: str | None
    signer: str | None
    due_date: datetime.date | None
    created_at: datetime.datetime
    recipients: tuple[tuple[str, str], ...]
    """(unit code, name) of each addressed unit."""
    states: dict[str, str]
    """What each recipient answered so far, as its delivery's state (01 ... 06, 02)."""

    @property
    def notation(self) -> str:
        return notation_of(self.code_number, self.code_notation, self.document_id) or str(
            self.number
        )

    @property
    def summary(self) -> str:
        return _type_and_summary(self.document_type, self.subject)

    def notes(self) -> list[str]:
        notes = []
        if self.kind in _VI_KINDS:
            notes.append(_VI_KINDS[self.kind])
        if self.due_date:
            notes.append(f"Hạn xử lý {day(self.due_date)}")
        refused = [name for code, name in self.recipients if self.states.get(code) == "02"]
        if refused:
            notes.append("Bị từ chối: " + ", ".join(refused))
        return notes

    def form_row(self) -> list[str]:
        """The entry in the Decree's columns (OUTGOING_COLUMNS); one electronic copy goes
        to each recipient, so that is the number of copies."""
        return [
            self.notation,
            day(self.promulgated_on or self.created_at),
            self.summary,
            self.signer or "",
            "; ".join(name for _code, name in self.recipients),
            "",
            str(len(self.recipients)),
            day(self.created_at),
            "",
            "; ".join(self.notes()),
        ]


Entry = IncomingEntry | OutgoingEntry


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    entries: list[Entry]
    total: int
    search: Search

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


class _Where:
    """WHERE clauses from constant fragments, each value a bind parameter; `{}` in a
    fragment takes the next parameter."""

    def __init__(self, unit: str) -> None:
        self.clauses = ["r.unit = $1"]
        self.args: list[Any] = [unit]

    def add(self, fragment: str, *values: Any) -> None:
        numbers = []
        for value in values:
            self.args.append(value)
            numbers.append(f"${len(self.args)}")
        self.clauses.append(f"({fragment.format(*numbers)})")

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses)


_INCOMING = (
    "SELECT r.year, r.number, r.message_id, r.kind, r.sender, s.name AS sender_name, r.author,"
    " r.document_id, r.code_number, r.code_notation, r.promulgated_on, r.document_type,"
    " r.subject, r.signer, r.due_date, r.received_at, r.status, r.redirected_from,"
    " r.paper_copy_required, r.recall_requested_at, r.revoked_at"
    " FROM incoming_register r LEFT JOIN units s ON s.organ_id = r.sender"
)
_OUTGOING = (
    "SELECT r.year, r.number, r.message_id, r.kind, r.document_id, r.code_number,"
    " r.code_notation, r.promulgated_on, r.document_type, r.subject, r.signer, r.due_date,"
    " r.recipients, r.created_at FROM outgoing_register r"
)
_NOTATION = (
    "concat_ws('/', r.code_number, r.code_notation) ILIKE {0}"
    " OR (r.code_number IS NULL AND r.code_notation IS NULL"
    " AND split_part(r.document_id, ',', 3) ILIKE {0})"
)
_SENDER = "upper(r.sender) = upper({0}) OR s.name ILIKE {1} OR r.author ILIKE {1}"
_RECIPIENT = (
    "EXISTS (SELECT FROM unnest(r.recipients) AS t(organ) LEFT JOIN units n"
    " ON n.organ_id = t.organ WHERE upper(t.organ) = upper({0}) OR n.name ILIKE {1})"
)


def _where(register: Direction, unit: str, search: Search) -> _Where:
    where = _Where(unit)
    at = "r.received_at" if register is Direction.INCOMING else "r.created_at"
    if search.number is not None:
        where.add(
            "r.number = {0} OR ltrim(r.code_number, '0') = {1}", search.number, str(search.number)
        )
    if search.notation:
        where.add(_NOTATION, _like(search.notation))
    start, end = search.window()
    if start is not None:
        where.add(f"{at} >= {{0}}", start)
    if end is not None:
        where.add(f"{at} < {{0}}", end)
    if search.party:
        party = _SENDER if register is Direction.INCOMING else _RECIPIENT
        where.add(party, search.party, _like(search.party))
    if search.subject:
        where.add("r.subject ILIKE {0} OR r.document_type ILIKE {0}", _like(search.subject))
    return where


async def find(conn: Connection, register: Direction, unit: str, search: Search) -> Found:
    """One page of `unit`'s register matching `search`, the latest first."""
    where = _where(register, unit, search)
    table = "incoming_register" if register is Direction.INCOMING else "outgoing_register"
    joined = " LEFT JOIN units s ON s.organ_id = r.sender" if register is Direction.INCOMING else ""
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM {table} r{joined} WHERE {where.sql}",  # noqa: S608 (constants)
        *where.args,
    )
    base = _INCOMING if register is Direction.INCOMING else _OUTGOING
    at = "r.received_at" if register is Direction.INCOMING else "r.created_at"
    count = len(where.args)
    rows = await conn.fetch(
        f"{base} WHERE {where.sql} ORDER BY {at} DESC, r.year DESC, r.number DESC"
        f" LIMIT ${count + 1} OFFSET ${count + 2}",
        *where.args,
        PAGE_SIZE,
        search.offset,
    )
    return Found(await _entries(conn, register, unit, rows), total, search)


async def quarter_entries(
    conn: Connection, register: Direction, unit: str, year: int, quarter: int
) -> list[Entry]:
    """A quarter of `unit`'s register in its own order (by number), as it is printed."""
    where = _where(register, unit, Search(year=year, quarter=quarter))
    base = _INCOMING if register is Direction.INCOMING else _OUTGOING
    rows = await conn.fetch(
        f"{base} WHERE {where.sql} ORDER BY r.year, r.number",
        *where.args,
    )
    return await _entries(conn, register, unit, rows)


async def _entries(
    conn: Connection, register: Direction, unit: str, rows: Sequence[asyncpg.Record]
) -> list[Entry]:
    if register is Direction.INCOMING:
        return [IncomingEntry(**dict(row)) for row in rows]
    sent = [row["message_id"] for row in rows]
    addressed = sorted({code for row in rows for code in row["recipients"]})
    names = await unit_names(conn, addressed)
    answers = await conn.fetch(
        "SELECT message_id, recipient, status_code FROM outgoing_status"
        " WHERE unit = $1 AND message_id = ANY($2::text[])",
        unit,
        sent,
    )
    codes: dict[tuple[str, str], list[str]] = {}
    for answer in answers:
        codes.setdefault((answer["message_id"], answer["recipient"]), []).append(
            answer["status_code"]
        )
    return [
        OutgoingEntry(
            **{k: v for k, v in dict(row).items() if k != "recipients"},
            recipients=tuple((code, names.get(code, code)) for code in row["recipients"]),
            states={
                code: statuses.state_of(codes.get((row["message_id"], code), []))
                for code in row["recipients"]
            },
        )
        for row in rows
    ]


async def unit_names(conn: Connection, units: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT organ_id, name FROM units WHERE organ_id = ANY($1::text[])", list(units)
    )
    return {row["organ_id"]: row["name"] for row in rows}


def columns(register: Direction) -> tuple[str, ...]:
    return INCOMING_COLUMNS if register is Direction.INCOMING else OUTGOING_COLUMNS


def as_csv(register: Direction, entries: Sequence[Entry]) -> bytes:
    """The register as CSV for a spreadsheet: UTF-8 with a byte order mark (so Excel reads
    the Vietnamese right), CRLF lines, no cell a spreadsheet would run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns(register))
    writer.writerows([neutralised(cell) for cell in entry.form_row()] for entry in entries)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_pdf(
    register: Direction, unit_name: str, year: int, quarter: int, entries: Sequence[Entry]
) -> bytes:
    """The register's printed quarter: landscape A4, the unit's name at the top left, the
    title block (register, quarter, dates, numbers) and the ruled table of the Decree's
    columns, its heading row repeated on every page."""
    title = TITLES[register]
    first, after = quarter_bounds(year, quarter)
    last = after - datetime.timedelta(days=1)
    document = pdf.document(f"{title} - {unit_name} - Quý {ROMAN[quarter]} năm {year}")
    document.set_font(pdf.FAMILY, "B", 10)
    document.multi_cell(110, 5, unit_name.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
    document.ln(6)
    pdf.heading(document, [title], size=16)
    document.set_font(pdf.FAMILY, "", 11)
    lines = [
        f"Quý {ROMAN[quarter]} năm {year}",
        f"Từ ngày {day(first)} đến ngày {day(last)}",
    ]
    if entries:
        numbers = [entry.number for entry in entries]
        lines.append(f"Từ số {min(numbers)} đến số {max(numbers)}")
    else:
        lines.append("Không có văn bản nào được đăng ký trong quý")
    for line in lines:
        document.cell(0, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    document.ln(4)
    widths = INCOMING_WIDTHS if register is Direction.INCOMING else OUTGOING_WIDTHS
    pdf.table(document, columns(register), [e.form_row() for e in entries], widths=widths)
    return pdf.as_bytes(document)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One line of a document's timeline."""

    at: datetime.datetime
    source: str
    """Whose record says it: ledger, sender (its register) or recipient (its register)."""
    what: str
    """A key of LABELS (a state, a status code or an event), or an unknown code as is."""
    party: str | None = None
    """The recipient it is about, if any."""
    reason: str | None = None
    detail: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    recipient: str
    delivered_to: str | None
    state: str
    reason: str | None
    updated_at: datetime.datetime
    paper_copy_required: bool
    incoming_number: int | None
    """The recipient's số đến, shown only to a viewer who may read its register."""


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """What the document says of itself, as a register entry holds it."""

    notation: str = ""
    subject: str = ""
    document_type: str = ""
    signer: str = ""
    promulgated_on: datetime.date | None = None
    due_date: datetime.date | None = None

    @classmethod
    def of(cls, entry: asyncpg.Record) -> Facts:
        return cls(
            notation=notation_of(
                entry["code_number"], entry["code_notation"], entry["document_id"]
            ),
            subject=entry["subject"] or "",
            document_type=entry["document_type"] or "",
            signer=entry["signer"] or "",
            promulgated_on=entry["promulgated_on"],
            due_date=entry["due_date"],
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    message_id: str
    kind: str
    sender: str
    facts: Facts
    outgoing_number: int | None
    """The sender's số đi, shown only to a viewer who may read the sender's register."""
    sender_view: bool
    deliveries: list[Delivery]
    hidden: int
    """Addressed recipients not shown: their registers are not this viewer's to read."""
    events: list[Event]
    names: dict[str, str]


async def document(
    conn: Connection, message: str, readable: Callable[[str], bool]
) -> Document | None:
    """What a viewer who may read the registers `readable` says yes to may see of
    `message`; None when that is nothing (it does not exist, or it concerns none of those
    registers: the two are not told apart).

    The sender's side (its outgoing entry, what it heard back, the ledger's verdict and
    every delivery) goes to a viewer of the sender's register; a recipient's side (its
    incoming entry, the ledger of its own delivery) to a viewer of that recipient's
    register, who learns of the other recipients only how many there are. A redirected
    delivery is the addressed unit's and the successor's alike."""
    ledger = await conn.fetchrow(
        "SELECT sender, kind, received_at, verdict, reason_code, reason FROM messages"
        " WHERE message_id = $1",
        message,
    )
    outgoing = await conn.fetchrow("SELECT * FROM outgoing_register WHERE message_id = $1", message)
    incoming = await conn.fetch(
        "SELECT unit, year, number, kind, sender, document_id, code_number, code_notation,"
        " promulgated_on, document_type, subject, signer, due_date, received_at, status,"
        " redirected_from, recall_requested_at, revoked_at FROM incoming_register"
        " WHERE message_id = $1 ORDER BY unit",
        message,
    )
    first = outgoing or ledger or (incoming[0] if incoming else None)
    if first is None:
        return None
    sender: str = outgoing["unit"] if outgoing is not None else first["sender"]
    sender_view = readable(sender)
    deliveries = await conn.fetch(
        "SELECT recipient, delivered_to, state, reason_code, updated_at, paper_copy_required"
        " FROM deliveries WHERE message_id = $1 ORDER BY recipient",
        message,
    )
    shown = [
        d
        for d in deliveries
        if sender_view
        or readable(d["recipient"])
        or (d["delivered_to"] is not None and readable(d["delivered_to"]))
    ]
    mine = [row for row in incoming if readable(row["unit"])]
    if not (sender_view or shown or mine):
        return None
    events = _message_events(ledger, sender_view) + _incoming_events(mine)
    events += await _ledger_events(conn, message, {d["recipient"] for d in shown})
    if sender_view and outgoing is not None:
        number = str(outgoing["number"])
        events.append(Event(outgoing["created_at"], "sender", "registered_out", detail=number))
        events += await _heard_back(conn, sender, message)
    events.sort(key=lambda event: event.at)
    entry = outgoing if sender_view and outgoing is not None else (mine[0] if mine else None)
    addressed = {
        *(outgoing["recipients"] if outgoing is not None else ()),
        *(d["recipient"] for d in deliveries),
    }
    parties = {sender, *addressed, *(d["delivered_to"] for d in shown), *(e.party for e in events)}
    numbers = {row["unit"]: row["number"] for row in mine}
    return Document(
        message_id=message,
        kind=first["kind"],
        sender=sender,
        facts=Facts.of(entry) if entry is not None else Facts(),
        outgoing_number=outgoing["number"] if sender_view and outgoing is not None else None,
        sender_view=sender_view,
        deliveries=[
            Delivery(
                recipient=d["recipient"],
                delivered_to=d["delivered_to"],
                state=d["state"],
                reason=d["reason_code"],
                updated_at=d["updated_at"],
                paper_copy_required=d["paper_copy_required"],
                incoming_number=numbers.get(d["delivered_to"] or d["recipient"]),
            )
            for d in shown
        ],
        hidden=len(addressed - {d["recipient"] for d in shown}),
        events=events,
        names=await unit_names(conn, sorted(p for p in parties if p)),
    )


def _message_events(ledger: asyncpg.Record | None, sender_view: bool) -> list[Event]:
    """The exchange received it; and, to the sender's side only, why it refused or held
    it (the reason may quote what the policy matched)."""
    if ledger is None:
        return []
    events = [Event(ledger["received_at"], "ledger", "message")]
    if sender_view and ledger["verdict"] in ("rejected", "held"):
        events.append(
            Event(
                ledger["received_at"],
                "ledger",
                ledger["verdict"],
                reason=ledger["reason_code"],
                detail=ledger["reason"],
            )
        )
    return events


def _incoming_events(rows: Sequence[asyncpg.Record]) -> list[Event]:
    events = []
    for row in rows:
        unit = row["unit"]
        events.append(
            Event(row["received_at"], "recipient", "registered_in", unit, detail=str(row["number"]))
        )
        if row["recall_requested_at"] is not None:
            events.append(Event(row["recall_requested_at"], "recipient", "recall_requested", unit))
        if row["revoked_at"] is not None:
            events.append(Event(row["revoked_at"], "recipient", "revoked", unit))
    return events


async def _ledger_events(conn: Connection, message: str, recipients: set[str]) -> list[Event]:
    rows = await conn.fetch(
        "SELECT recipient, state, at, reason_code, detail FROM delivery_events"
        " WHERE message_id = $1 AND recipient = ANY($2::text[]) ORDER BY at, id",
        message,
        sorted(recipients),
    )
    return [
        Event(r["at"], "ledger", r["state"], r["recipient"], r["reason_code"], r["detail"])
        for r in rows
    ]


async def _heard_back(conn: Connection, sender: str, message: str) -> list[Event]:
    rows = await conn.fetch(
        "SELECT recipient, status_code, reason_code, description, at FROM outgoing_status"
        " WHERE unit = $1 AND message_id = $2 ORDER BY at",
        sender,
        message,
    )
    return [
        Event(
            r["at"], "sender", r["status_code"], r["recipient"], r["reason_code"], r["description"]
        )
        for r in rows
    ]
