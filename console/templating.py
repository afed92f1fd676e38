"""Pages are Jinja2 templates (console/templates), autoescaped, rendered with the viewer's
language and menu; every asset they use is served by the console itself (console/static)."""

from __future__ import annotations

import dataclasses
import datetime
import zoneinfo
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from console import i18n
from console.accounts import Role
from console.guard import Viewer

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


def local(moment: datetime.datetime | None, pattern: str = "%d/%m/%Y %H:%M:%S") -> str:
    """A moment as Vietnamese offices read it, in their own time (the database gives UTC);
    templates write `{{ at | local }}`, never `at.strftime(...)`."""
    return moment.astimezone(VIETNAM).strftime(pattern) if moment is not None else ""


ENVIRONMENT.filters["local"] = local


@dataclasses.dataclass(frozen=True, slots=True)
class MenuItem:
    """A link in every page's menu, shown to the roles that may open it."""

    path: str
    label: str
    roles: Collection[Role] = frozenset(Role)
    order: int = 50


def language(request: Request) -> str:
    return i18n.language(request.cookies.get(i18n.COOKIE))


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    menu: list[MenuItem] = request.app.state.menu
    html = ENVIRONMENT.get_template(template).render(
        request=request,
        viewer=viewer,
        lang=lang,
        _=i18n.translator(lang),
        menu=[item for item in menu if viewer is not None and viewer.has_role(item.roles)],
        csrf=viewer.csrf if viewer is not None else "",
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status)
