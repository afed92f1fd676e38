"""Listing and polling the registers over the API (connectors.listing): pages in register
order, an opaque cursor that never skips nor repeats an entry, `since`, and hostile query
strings refused with a reason code.

The entries are written straight into the registers by the owner, as the connector would
number them, so no document has to travel the exchange; one exchange serves the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors import api, listing
from kernel import database
from kernel.errors import Rejected
from kernel.settings import Settings
from lienthong.devstack.stack import Endpoints
from tests.e2e.apiclient import bearer
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, DEPARTMENT, PROVINCE, Exchange, exchange_with

UTC = datetime.UTC
NOON = datetime.datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


# The cursor and the query's values, without a stack ---------------------------------------


def test_a_cursor_reads_back_and_nothing_else_is_one() -> None:
    cursors = (
        listing.Cursor("in"),
        listing.Cursor("out", 2026, 12),
        listing.Cursor("in", 9, 2**31 - 1),
    )
    for cursor in cursors:
        assert listing.Cursor.parse(str(cursor), cursor.register) == cursor
    outgoing = str(listing.Cursor("out", 2026, 1))
    for text, register in (
        (outgoing, "in"),
        ("", "in"),
        ("AAAAAAAAAAAA", "in"),
        ("aQAAB-oAAAA", "in"),
        ("aQAAB+oAAAAp", "in"),
        ("aQAAB-oAAAAp=", "in"),
        ("af____8AAAAB", "in"),
    ):
        with pytest.raises(Rejected) as refused:
            listing.Cursor.parse(text, register)  # type: ignore[arg-type]
        assert refused.value.reason == "request_malformed", text


def test_since_is_rfc_3339_with_an_offset_and_limit_a_plain_number() -> None:
    assert listing.moment_of("2026-03-02T12:00:00+07:00") == NOON
    assert listing.moment_of("2026-03-02t05:00:00.5z") == NOON.replace(microsecond=500_000)
    assert listing.moment_of("2026-03-02T04:59:60Z") == NOON - datetime.timedelta(microseconds=1)
    arabic_indic = "\u0662\u0660\u0662\u0666"
    for text in (
        "2026-03-02", "2026-03-02T12:00:00", "2026-03-02T12:00:00 07:00", "2026-02-30T00:00:00Z",
        "0000-01-01T00:00:00+01:00", f"{arabic_indic}-03-02T12:00:00Z", "2026-03-02T24:00:00Z",
        "now",
    ):  # fmt: skip
        with pytest.raises(Rejected):
            listing.moment_of(text)
    assert (listing.limit_of(None), listing.limit_of("1"), listing.limit_of("500")) == (100, 1, 500)
    for text in ("0", "501", "05", "1.0", "-1", "+1", "", "1e2", "\u0661"):
        with pytest.raises(Rejected):
            listing.limit_of(text)


# Against a running connector ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def shared(
    settings: Settings, services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Exchange, str, aiohttp.ClientSession]]:
    async with (
        exchange_with(settings, services, tmp_path_factory.mktemp("paging")) as exchange,
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession(headers=await bearer(exchange)) as session,
    ):
        yield exchange, f"http://127.0.0.1:{port}", session


async def _get(session: aiohttp.ClientSession, url: str, **query: str) -> tuple[int, Any]:
    async with session.get(url, params=query) as response:
        return response.status, await response.json()


async def _incoming(
    exchange: Exchange, unit: str, year: int, number: int, at: datetime.datetime
) -> None:
    """An entry as the connector registers one: its counter bumped in the same transaction."""
    await exchange.fetch(
        "WITH counted AS (INSERT INTO register_counters (unit, year, register, last)"
        " VALUES ($1, $2, 'in', $3) ON CONFLICT (unit, year, register)"
        " DO UPDATE SET last = excluded.last RETURNING last)"
        " INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
        " received_at, sent_at, edxml) SELECT $1, $2, last, $4, 'document', $5, $6, $6, ''"
        " FROM counted",
        unit, year, number, f"{unit}-{year}-{number}", PROVINCE, at,
    )  # fmt: skip


def _numbers(entries: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(entry["year"], entry["number"]) for entry in entries]


@pytest.mark.kafka
@pytest.mark.postgres
async def test_a_poller_gets_every_entry_once_across_pages_and_years(
    shared: tuple[Exchange, str, aiohttp.ClientSession],
) -> None:
    exchange, base, session = shared
    inbox = f"{base}/units/{COMMUNE_A}/inbox"
    registered = [(2025, n) for n in (1, 2, 3)] + [(2026, n) for n in (1, 2, 3, 4)]
    for year, number in registered:
        await _incoming(exchange, COMMUNE_A, year, number, NOON)

    seen: list[tuple[int, int]] = []
    status, page = await _get(session, inbox, limit="3")
    while True:
        assert status == 200, page
        seen += _numbers(page["entries"])
        if not page["more"]:
            break
        status, page = await _get(session, inbox, limit="3", after=page["next"])
    assert seen == registered
    assert len(page["entries"]) == 1  # 7 entries: pages of 3, 3 and 1

    # Nothing new: the same cursor comes back. Something new: exactly that.
    status, empty = await _get(session, inbox, after=page["next"])
    assert (status, empty) == (200, {"entries": [], "next": page["next"], "more": False})
    await _incoming(exchange, COMMUNE_A, 2026, 5, NOON)
    status, fresh = await _get(session, inbox, after=page["next"])
    assert _numbers(fresh["entries"]) == [(2026, 5)]
    assert fresh["entries"][0]["message_id"] == f"{COMMUNE_A}-2026-5"


@pytest.mark.kafka
@pytest.mark.postgres
async def test_since_chooses_where_a_listing_starts(
    shared: tuple[Exchange, str, aiohttp.ClientSession],
) -> None:
    exchange, base, session = shared
    for number, hours in ((1, -2), (2, 0), (3, 1)):
        await _incoming(exchange, DEPARTMENT, 2026, number, NOON + datetime.timedelta(hours=hours))
    inbox = f"{base}/units/{DEPARTMENT}/inbox"
    status, page = await _get(session, inbox, since="2026-03-02T12:00:00+07:00")
    assert (status, _numbers(page["entries"])) == (200, [(2026, 2), (2026, 3)])
    status, page = await _get(session, inbox, since="2026-03-02T06:00:00Z", after=page["next"])
    assert (status, page["entries"]) == (200, [])
    # A + left unencoded in the URL arrives as a space: refused, saying why.
    async with session.get(f"{inbox}?since=2026-03-02T12:00:00+07:00") as response:
        refused = await response.json()
    assert (response.status, refused["reason_code"]) == (400, "request_malformed")
    assert "%2B" in refused["reason"]


OUTGOING_CURSOR = str(listing.Cursor("out", 2026, 1))
INCOMING_CURSOR = str(listing.Cursor("in", 2026, 1))


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("listed", "query"),
    [
        ("inbox", "after=nope"),
        ("inbox", f"after={OUTGOING_CURSOR}"),
        ("sent", f"after={INCOMING_CURSOR}"),
        ("inbox", "after=%00"),
        ("inbox", "limit=0"),
        ("sent", "limit=501"),
        ("inbox", "limit=1.5"),
        ("sent", "limit=ten"),
        ("inbox", "limit=1&limit=2"),
        ("inbox", "since=yesterday"),
        ("sent", "since=2026-03-02"),
        ("inbox", f"cursor={INCOMING_CURSOR}"),
    ],
)
async def test_a_listing_refuses_what_it_cannot_read(
    shared: tuple[Exchange, str, aiohttp.ClientSession], listed: str, query: str
) -> None:
    _, base, session = shared
    async with session.get(f"{base}/units/{PROVINCE}/{listed}?{query}") as response:
        answer = await response.json()
    assert (response.status, answer["reason_code"]) == (400, "request_malformed"), answer
    assert set(answer) == {"reason_code", "reason"}


@pytest.mark.kafka
@pytest.mark.postgres
async def test_the_sent_listing_pages_the_outgoing_register_with_each_recipient_s_state(
    shared: tuple[Exchange, str, aiohttp.ClientSession],
) -> None:
    exchange, base, session = shared
    for number in (1, 2, 3):
        await exchange.fetch(
            "INSERT INTO outgoing_register (unit, year, number, message_id, kind, recipients,"
            " created_at) VALUES ($1, 2026, $2, $3, 'document', $4, $5)",
            PROVINCE, number, f"sent-{number}", [COMMUNE_A, COMMUNE_B], NOON,
        )  # fmt: skip
    for code in ("01", "03"):
        await exchange.fetch(
            "INSERT INTO outgoing_status (unit, message_id, recipient, status_code, at,"
            " status_message_id) VALUES ($1, 'sent-2', $2, $3, $4, $5)",
            PROVINCE, COMMUNE_A, code, NOON, f"status-{code}",
        )  # fmt: skip
    status, first = await _get(session, f"{base}/units/{PROVINCE}/sent", limit="2")
    assert (status, _numbers(first["entries"]), first["more"]) == (
        200,
        [(2026, 1), (2026, 2)],
        True,
    )
    assert first["entries"][1]["states"] == {COMMUNE_A: "03", COMMUNE_B: "routed"}
    assert first["entries"][1]["recipients"] == [COMMUNE_A, COMMUNE_B]
    status, second = await _get(session, f"{base}/units/{PROVINCE}/sent", after=first["next"])
    assert (status, _numbers(second["entries"]), second["more"]) == (200, [(2026, 3)], False)
    # Another unit's register is not this one's to list, even with a cursor from it.
    async with session.get(f"{base}/units/{COMMUNE_B}/sent") as response:
        assert (await response.json())["entries"] == []


@contextlib.asynccontextmanager
async def _numbering(exchange: Exchange, unit: str, year: int) -> AsyncIterator[None]:
    """A registration in flight: its number taken, the entry written, not yet committed."""
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        async with conn.transaction():
            number = await conn.fetchval(
                "UPDATE register_counters SET last = last + 1"
                " WHERE unit = $1 AND year = $2 AND register = 'in' RETURNING last",
                unit, year,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO incoming_register (unit, year, number, message_id, kind, sender,"
                " received_at, sent_at, edxml) VALUES ($1, $2, $3, $4, 'document', $5, $6, $6, '')",
                unit, year, number, f"{unit}-{year}-{number}", PROVINCE, NOON,
            )  # fmt: skip
            yield
    finally:
        await conn.close()


@pytest.mark.kafka
@pytest.mark.postgres
async def test_a_page_into_a_new_year_waits_for_the_old_year_s_entries_in_flight(
    shared: tuple[Exchange, str, aiohttp.ClientSession],
) -> None:
    """The last số đến of a year stored after the first of the next: a poller that had seen
    the old year's entries does not step past it."""
    exchange, base, session = shared
    inbox = f"{base}/units/{COMMUNE_B}/inbox"
    await _incoming(exchange, COMMUNE_B, 2025, 1, NOON)
    status, page = await _get(session, inbox)
    assert (status, _numbers(page["entries"])) == (200, [(2025, 1)])
    async with _numbering(exchange, COMMUNE_B, 2025):
        await _incoming(exchange, COMMUNE_B, 2026, 1, NOON)
        polled = asyncio.ensure_future(_get(session, inbox, after=page["next"]))
        await asyncio.sleep(1)
        assert not polled.done()  # it waits for 2025's registration in flight
    status, page = await polled
    assert (status, _numbers(page["entries"])) == (200, [(2025, 2), (2026, 1)])
