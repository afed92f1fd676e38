"""The registers pages: each unit's incoming and outgoing register, searched; the quarter
printed (PDF) or exported (CSV) as Article 10.3 wants it; a document's timeline.

Every unit in a URL is checked with `viewer.require_read` before anything is read for it,
so a unit admin of A gets 403 for B's register however the URL was made. A document's page
has no unit in its URL: console.registers.document decides what of it the viewer may see,
and a document the viewer may see nothing of is refused like one that does not exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from broker.directory.model import check_organ_id
from console import registers, store
from console.guard import Viewer, now, page
from console.registers import Direction
from console.templating import MenuItem, render
from kernel.database import Connection
from kernel.errors import AccessDenied
from kernel.reasons import ReasonCode


def _unit(request: Request, viewer: Viewer) -> str:
    """The URL's unit, well formed and readable by `viewer`, or refused before any query."""
    unit = check_organ_id(str(request.path_params["unit"]))
    viewer.require_read(unit)
    return unit


def _reason(code: str | None, lang: str) -> str:
    """A reason code's sentence in `lang`, or the code itself if the exchange has none."""
    if not code:
        return ""
    try:
        reason = ReasonCode(code)
    except ValueError:
        return code
    return reason.sentence_vi if lang == "vi" else reason.sentence_en


def _helpers() -> dict[str, Any]:
    return {
        "day": registers.day,
        "moment": registers.moment,
        "labels": registers.LABELS,
        "sources": registers.SOURCES,
        "reason_text": _reason,
    }


async def _unit_name(conn: Connection, unit: str) -> str:
    name: str | None = await conn.fetchval("SELECT name FROM units WHERE organ_id = $1", unit)
    return name or unit


@page()
async def index(request: Request, conn: Connection, viewer: Viewer) -> Response:
    units = viewer.readable_units()
    if units == [viewer.account.unit]:
        return RedirectResponse(f"/registers/{units[0]}/incoming", status_code=303)
    names = await registers.unit_names(conn, units)
    return render(
        request,
        viewer,
        "registers/index.html",
        {"units": [(unit, names.get(unit, unit)) for unit in units]},
    )


@page()
async def register(request: Request, conn: Connection, viewer: Viewer) -> Response:
    unit = _unit(request, viewer)
    which = registers.direction(str(request.path_params["direction"]))
    search = registers.parse_search(request.query_params.multi_items())
    found = await registers.find(conn, which, unit, search)
    year, quarter = registers.quarter_of(now(request))
    return render(
        request,
        viewer,
        "registers/register.html",
        {
            "unit": unit,
            "unit_name": await _unit_name(conn, unit),
            "direction": which.value,
            "found": found,
            "search": search,
            "export_year": search.year or year,
            "export_quarter": search.quarter or quarter,
            "first_year": registers.FIRST_YEAR,
            "last_year": registers.LAST_YEAR,
            **_helpers(),
        },
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Quarter:
    """A quarter of one register, as an export asked for it."""

    register: Direction
    unit: str
    unit_name: str
    year: int
    quarter: int
    entries: list[registers.Entry]

    def download(self, body: bytes, media_type: str, suffix: str) -> Response:
        book = "so-van-ban-den" if self.register is Direction.INCOMING else "so-van-ban-di"
        name = f"{book}-{self.unit}-{self.year}-Q{self.quarter}.{suffix}"
        return Response(
            body,
            media_type=media_type,
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )


async def _export(request: Request, conn: Connection, viewer: Viewer, form: str) -> _Quarter:
    """The quarter the URL names, read and the export audited (who took which register)."""
    unit = _unit(request, viewer)
    which = registers.direction(str(request.path_params["direction"]))
    year, quarter = registers.parse_period(request.query_params.multi_items())
    entries = await registers.quarter_entries(conn, which, unit, year, quarter)
    detail = {"unit": unit, "register": which.value, "year": year, "quarter": quarter,
              "format": form, "entries": len(entries)}  # fmt: skip
    await store.record_act(conn, viewer.account, "export", now=now(request), detail=detail)
    return _Quarter(which, unit, await _unit_name(conn, unit), year, quarter, entries)


@page()
async def export_pdf(request: Request, conn: Connection, viewer: Viewer) -> Response:
    got = await _export(request, conn, viewer, "pdf")
    body = await asyncio.to_thread(
        registers.as_pdf, got.register, got.unit_name, got.year, got.quarter, got.entries
    )
    return got.download(body, "application/pdf", "pdf")


@page()
async def export_csv(request: Request, conn: Connection, viewer: Viewer) -> Response:
    got = await _export(request, conn, viewer, "csv")
    return got.download(
        registers.as_csv(got.register, got.entries), "text/csv; charset=utf-8", "csv"
    )


@page()
async def document(request: Request, conn: Connection, viewer: Viewer) -> Response:
    message = registers.message_id(str(request.path_params["message_id"]))
    found = await registers.document(conn, message, viewer.may_read)
    if found is None:
        raise AccessDenied(
            ReasonCode.ACCOUNT_SCOPE_FORBIDDEN,
            f"{viewer.account.username} may read the register of no party to {message}",
        )
    return render(request, viewer, "registers/document.html", {"doc": found, **_helpers()})


routes = [
    Route("/registers", index, methods=["GET"]),
    Route("/registers/{unit}/{direction}", register, methods=["GET"]),
    Route("/registers/{unit}/{direction}/export.pdf", export_pdf, methods=["GET"]),
    Route("/registers/{unit}/{direction}/export.csv", export_csv, methods=["GET"]),
    Route("/documents/{message_id}", document, methods=["GET"]),
]
menu = [MenuItem("/registers", "Registers", order=20)]
