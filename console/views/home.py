"""The first page after login: who you are, your unit, and what you may open."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.guard import Viewer, page
from console.templating import render
from kernel.database import Connection


@page()
async def home(request: Request, conn: Connection, viewer: Viewer) -> Response:
    unit_name = await conn.fetchval(
        "SELECT name FROM units WHERE organ_id = $1", viewer.account.unit
    )
    return render(request, viewer, "home.html", {"unit_name": unit_name or ""})


routes = [Route("/", home, methods=["GET"])]
