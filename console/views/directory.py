"""The unit directory: the four levels, each unit's parents and children, and the 2025
successors. Public administrative information, so every logged-in role may browse it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.directory.model import LEVELS, check_organ_id
from console import directory_view
from console.admin import FORMATS, Pager, page_number, today
from console.guard import Viewer, now, page
from console.templating import MenuItem, render
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

MAX_QUERY = 100


@page()
async def listing(request: Request, conn: Connection, viewer: Viewer) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    level = request.query_params.get("level", "")
    if level and level not in LEVELS:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"{level[:20]!r} is not a level")
    number = page_number(request.query_params.get("page"))
    units = await directory_view.load(conn)
    found = directory_view.search(units, query, level)
    pager = Pager(number, len(found), {"q": query, "level": level})
    shown = found[pager.offset : pager.offset + pager.size]
    day = today(now(request))
    return render(
        request,
        viewer,
        "directory/list.html",
        {
            **FORMATS,
            "query": query,
            "level": level,
            "levels": LEVELS,
            "pager": pager,
            "rows": [
                (
                    entry,
                    units.get(entry.parent or ""),
                    directory_view.successors(units, entry.organ_id, day),
                )
                for entry in shown
            ],
            "today": day,
        },
    )


@page()
async def unit(request: Request, conn: Connection, viewer: Viewer) -> Response:
    organ_id = check_organ_id(request.path_params["organ_id"])
    units = await directory_view.load(conn)
    entry = units.get(organ_id)
    if entry is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"{organ_id} is not in the directory")
    day = today(now(request))
    return render(
        request,
        viewer,
        "directory/unit.html",
        {
            **FORMATS,
            "entry": entry,
            "ancestors": directory_view.ancestors(units, organ_id),
            "children": directory_view.children(units, organ_id),
            "predecessors": directory_view.predecessors(units, organ_id),
            "successors": directory_view.successors(units, organ_id, day),
            "today": day,
        },
    )


routes = [
    Route("/directory", listing, methods=["GET"]),
    Route("/directory/{organ_id}", unit, methods=["GET"]),
]
menu = [MenuItem("/directory", "Directory", order=80)]
