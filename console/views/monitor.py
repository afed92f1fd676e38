"""The Department's pages (Articles 8, 11 and 12): the dashboard, overdue receipts and due
dates, and the usage report as a page and a PDF. The provincial admin and the Department's
monitor open them; each sees only the units it may read (the monitor: its whole province).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import i18n, monitor, store
from console.accounts import Role
from console.guard import Viewer, now, page
from console.templating import MenuItem, language, render
from kernel.database import Connection

ROLES = frozenset({Role.PROVINCIAL_ADMIN, Role.DEPARTMENT_MONITOR})
DASHBOARD, OVERDUE, REPORT, REPORT_PDF = (
    "/monitor/dashboard",
    "/monitor/overdue",
    "/monitor/report",
    "/monitor/report.pdf",
)


def _period(request: Request) -> monitor.Period:
    today = now(request).astimezone(monitor.LOCAL).date()
    return monitor.period_of(request.query_params, today)


def _common(period: monitor.Period | None) -> dict[str, object]:
    return {
        "period": period,
        "local_time": monitor.local_time,
        "local_date": monitor.local_date,
        "duration": monitor.duration,
        "bar": monitor.bar,
    }


@page(*ROLES)
async def dashboard(request: Request, conn: Connection, viewer: Viewer) -> Response:
    period = _period(request)
    scope = viewer.readable_units()
    days = await monitor.days(conn, scope, period)
    units = await monitor.units(conn, scope, period)
    refusals = await monitor.refusals(conn, scope, period)
    overdue, _listed = await monitor.overdue_receipts(conn, scope, now(request))
    context = {
        **_common(period),
        "days": days,
        "day_scale": max([1, *(d.sent for d in days), *(d.received for d in days)]),
        "units": [u for u in units if u.sent or u.received or u.refused],
        "unit_count": len(units),
        "levels": monitor.levels(units),
        "latencies": await monitor.latencies(conn, scope, period),
        "refusals": refusals,
        "refusal_scale": max([1, *(r.count for r in refusals)]),
        "backlog": await monitor.backlog(conn, scope, period),
        "overdue": overdue,
        "sent": sum(d.sent for d in days),
        "received": sum(d.received for d in days),
    }
    return render(request, viewer, "monitor/dashboard.html", context)


@page(*ROLES)
async def overdue(request: Request, conn: Connection, viewer: Viewer) -> Response:
    moment = now(request)
    scope = viewer.readable_units()
    receipts_total, receipts = await monitor.overdue_receipts(conn, scope, moment)
    due_total, due = await monitor.past_due(conn, scope, moment.astimezone(monitor.LOCAL).date())
    context = {
        **_common(None),
        "now": moment,
        "cutoff": monitor.overdue_before(moment),
        "receipts": receipts,
        "receipts_total": receipts_total,
        "due": due,
        "due_total": due_total,
    }
    return render(request, viewer, "monitor/overdue.html", context)


@page(*ROLES)
async def report(request: Request, conn: Connection, viewer: Viewer) -> Response:
    period = _period(request)
    units = await monitor.units(conn, viewer.readable_units(), period)
    context = {**_common(period), "units": units, "levels": monitor.levels(units)}
    return render(request, viewer, "monitor/report.html", context)


@page(*ROLES)
async def report_pdf(request: Request, conn: Connection, viewer: Viewer) -> Response:
    """The report as a PDF download, audited as an export."""
    period = _period(request)
    units = await monitor.units(conn, viewer.readable_units(), period)
    moment = now(request)
    body = monitor.report_pdf(
        units,
        period,
        made_at=moment,
        made_by=viewer.account.username,
        translate=i18n.translator(language(request)),
    )
    await store.record_act(
        conn,
        viewer.account,
        "export",
        now=moment,
        detail={"report": "usage", "from": period.first.isoformat(), "to": period.last.isoformat()},
    )
    name = f"bao-cao-su-dung-{period.first.isoformat()}-{period.last.isoformat()}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route(DASHBOARD, dashboard, methods=["GET"]),
    Route(OVERDUE, overdue, methods=["GET"]),
    Route(REPORT, report, methods=["GET"]),
    Route(REPORT_PDF, report_pdf, methods=["GET"]),
]
menu = [
    MenuItem(DASHBOARD, "Monitoring", ROLES, order=30),
    MenuItem(OVERDUE, "Overdue", ROLES, order=31),
    MenuItem(REPORT, "Usage report", ROLES, order=32),
]
