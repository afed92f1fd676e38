"""The registers as pages, for agency systems that poll them over the API.

The order is the register's own, (year, number): số đến for the incoming register, số đi for
the outgoing one. A page resumes strictly after an opaque cursor, and every page hands back
the cursor to resume from, so a poller keeps one value and asks again with it.

Why that order loses nothing and repeats nothing: a number comes from a counter row that
stays locked until its entry commits (connectors.registers), so within a year no entry
becomes visible after a higher number has; and an entry once listed never moves. Across a
new year two counter rows are in play: a page that reaches into a later year than it starts
in first waits for the registrations still in flight in the earlier years (a shared lock
on their counter rows), then is read again; a first page counts as starting before every
year. A registration whose time falls in a year its register has already left (stamped
before 1 January, numbered after) goes into the later year (registers._next_number), so
no entry appears behind a cursor that has moved on. A receive time would not do as a position:
it is taken before its entry commits, so a later-stamped entry can be seen first.

`since` narrows a listing to entries received (incoming) or made (outgoing) at or after a
moment; it chooses where a first poll starts, and the cursor carries on from there.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import re
import struct
from typing import Any, Literal

from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode
from schemas import statuses

Register = Literal["in", "out"]
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DECREE_30 = (
    "code_number", "code_notation", "promulgated_on", "document_type", "signer", "due_date",
    "author",
)  # fmt: skip
"""The columns of Decree 30/2020's register forms (migration 0022)."""
INCOMING = (
    "year", "number", "message_id", "kind", "sender", "document_id", "subject", "received_at",
    "sent_at", "status", "redirected_from", "paper_copy_required", "recall_requested_at",
    *DECREE_30, "revoked_at",
)  # fmt: skip
OUTGOING = (
    "year", "number", "message_id", "kind", "document_id", "subject", "recipients", "created_at",
    *DECREE_30,
)  # fmt: skip
_CURSOR = struct.Struct(">cII")
_CURSOR_TEXT = re.compile("[A-Za-z0-9_-]{12}")
_INT32 = 2**31 - 1
_LIMIT = re.compile("[1-9][0-9]{0,2}")
_MOMENT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_QUERIES: dict[Register, str] = {
    "in": f"SELECT {', '.join(INCOMING)} FROM incoming_register"  # noqa: S608 (constants)
    " WHERE unit = $1 AND (year, number) > ($2, $3)"
    " AND ($4::timestamptz IS NULL OR received_at >= $4) ORDER BY year, number LIMIT $5",
    "out": f"SELECT {', '.join(OUTGOING)} FROM outgoing_register"  # noqa: S608 (constants)
    " WHERE unit = $1 AND (year, number) > ($2, $3)"
    " AND ($4::timestamptz IS NULL OR created_at >= $4) ORDER BY year, number LIMIT $5",
}


def _malformed(message: str) -> Rejected:
    return Rejected(ReasonCode.REQUEST_MALFORMED, message)


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    """A position in one register: after (year, number). Its text is opaque to clients."""

    register: Register
    year: int = 0
    number: int = 0

    def __str__(self) -> str:
        packed = _CURSOR.pack(self.register[0].encode(), self.year, self.number)
        return base64.urlsafe_b64encode(packed).decode()

    @classmethod
    def parse(cls, text: str, register: Register) -> Cursor:
        """A cursor this register handed out; anything else is refused, never guessed at."""
        if not _CURSOR_TEXT.fullmatch(text):
            raise _malformed("`after` is not a cursor this API handed out")
        try:
            tag, year, number = _CURSOR.unpack(base64.urlsafe_b64decode(text))
        except (binascii.Error, ValueError, struct.error):
            raise _malformed("`after` is not a cursor this API handed out") from None
        if tag != register[0].encode():
            other = "outgoing" if register == "in" else "incoming"
            raise _malformed(f"`after` is a cursor of the {other} register")
        if year > _INT32 or number > _INT32:
            raise _malformed("`after` is not a cursor this API handed out")
        return cls(register, year, number)


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    entries: list[dict[str, Any]]
    next: Cursor
    """Where the next poll resumes: after this page's last entry, or where this one began."""
    more: bool
    """Whether entries past this page exist already."""

    def as_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "next": str(self.next), "more": self.more}


def limit_of(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(text) or int(text) > MAX_LIMIT:
        raise _malformed(f"`limit` must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def moment_of(text: str | None) -> datetime.datetime | None:
    """An RFC 3339 date-time with its offset (a `+` in a URL is written %2B); a leap second
    counts as the last instant of the second before it."""
    if text is None:
        return None
    found = _MOMENT.fullmatch(text)
    if found is None:
        raise _malformed(
            "`since` must be an RFC 3339 date-time with an offset, e.g. 2026-11-20T08:00:00Z"
            " (a + in a URL is written %2B)"
        )
    year, month, day, hour, minute, second = (int(found[i]) for i in range(1, 7))
    micro = int((found[7] or "")[:6].ljust(6, "0"))
    if second == 60:
        second, micro = 59, 999_999
    sign = -1 if found[8] == "-" else 1
    try:
        offset = sign * datetime.timedelta(hours=int(found[9] or 0), minutes=int(found[10] or 0))
        zone = datetime.timezone(offset)
        local = datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        return local.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        raise _malformed(f"`since` is not a date-time that exists: {text}") from None


async def page(
    conn: Connection,
    unit: str,
    after: Cursor,
    *,
    since: datetime.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """Up to `limit` entries of `unit`'s register after `after`, in register order."""
    rows = await _read(conn, unit, after, since, limit)
    # A first page (year 0) counts as before every year: an entry of an earlier year than
    # the rows read may still be in flight even when the poller has seen none of its year.
    years = [after.year, *(row["year"] for row in rows)] if rows else []
    if years and max(years) > min(years):
        async with conn.transaction():
            await conn.execute(
                "SELECT year FROM register_counters WHERE unit = $1 AND register = $2"
                " AND year >= $3 AND year < $4 ORDER BY year FOR SHARE",
                unit,
                after.register,
                min(years),
                max(years),
            )
        rows = await _read(conn, unit, after, since, limit)
    entries = [dict(row) for row in rows[:limit]]
    if after.register == "out":
        await _add_states(conn, unit, entries)
    last = entries[-1] if entries else None
    resume = Cursor(after.register, last["year"], last["number"]) if last else after
    return Page(entries, resume, len(rows) > limit)


async def sent(conn: Connection, unit: str, message_id: str) -> dict[str, Any] | None:
    """One entry of the outgoing register, as the sent listing shows it (without states)."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(OUTGOING)} FROM outgoing_register"  # noqa: S608 (constants)
        " WHERE unit = $1 AND message_id = $2",
        unit,
        message_id,
    )
    return dict(row) if row is not None else None


async def _read(
    conn: Connection,
    unit: str,
    after: Cursor,
    since: datetime.datetime | None,
    limit: int,
) -> list[Any]:
    query = _QUERIES[after.register]
    return list(await conn.fetch(query, unit, after.year, after.number, since, limit + 1))


async def _add_states(conn: Connection, unit: str, entries: list[dict[str, Any]]) -> None:
    """How far each recipient has come, as in a sent document's delivery state: per
    recipient, and per successor a merged one was redirected to (it answers 01 itself)."""
    rows = await conn.fetch(
        "SELECT message_id, recipient, array_agg(status_code) AS codes FROM outgoing_status"
        " WHERE unit = $1 AND message_id = ANY($2::text[]) GROUP BY message_id, recipient",
        unit,
        [entry["message_id"] for entry in entries],
    )
    heard: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        heard.setdefault(row["message_id"], {})[row["recipient"]] = list(row["codes"])
    for entry in entries:
        codes: dict[str, list[str]] = {r: [] for r in entry["recipients"]}
        codes |= heard.get(entry["message_id"], {})
        entry["states"] = {
            r: statuses.state_of(c)
            for r, c in codes.items()
            if r in entry["recipients"] or "01" in c
        }
