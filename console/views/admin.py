"""Accounts and their audit, for the provincial admin and unit admins (Articles 6, 7, 9.2
and 11): each sees and acts on the accounts of its unit's subtree only, whatever a URL or
a form names. Every act goes through console.store, which audits it.

A one-time password exists only in the answer to the act that made it (the page is
no-store, like every console page) and is written nowhere else.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from broker.directory.model import check_organ_id
from console import accounts, directory_view, sessions, store
from console.accounts import Account, Role
from console.admin import (
    FORMATS,
    PAGE_SIZE,
    Pager,
    administers,
    day,
    grantable,
    page_number,
    period,
    scope_units,
    today,
)
from console.guard import Viewer, form_text, now, page
from console.templating import MenuItem, render
from kernel.database import Connection
from kernel.errors import Rejected
from kernel.reasons import ReasonCode

ADMINS = (Role.PROVINCIAL_ADMIN, Role.UNIT_ADMIN)
MAX_NAME = 120
MAX_NOTE = 500
RECENT_EVENTS = 20
DONE = {"locked", "unlocked"}
"""What an act's redirect may announce on the account's page; anything else is ignored."""


async def _target(conn: Connection, viewer: Viewer, username: str) -> Account:
    """The account a URL names, if it is in the viewer's scope: 403 otherwise, whether the
    URL was typed or a form forged."""
    account = await store.get(conn, accounts.check_username(username))
    if account is None:
        raise Rejected(ReasonCode.ACCOUNT_UNKNOWN, f"there is no account {username!r}")
    accounts.require(
        account.unit in scope_units(viewer.account, viewer.parents),
        viewer.account,
        f"see the account {username}",
    )
    return account


def _require_administers(viewer: Viewer, account: Account, what: str) -> None:
    accounts.require(
        administers(viewer.account, account, viewer.parents),
        viewer.account,
        f"{what} {account.username}",
    )


async def _unit_names(conn: Connection) -> dict[str, str]:
    return {code: entry.name for code, entry in (await directory_view.load(conn)).items()}


@page(*ADMINS)
async def listing(request: Request, conn: Connection, viewer: Viewer) -> Response:
    search = request.query_params.get("q", "").strip()[:80]
    number = page_number(request.query_params.get("page"))
    found, total = await store.in_units(
        conn,
        scope_units(viewer.account, viewer.parents),
        search=search,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        viewer,
        "admin/accounts.html",
        {
            **FORMATS,
            "accounts": found,
            "names": await _unit_names(conn),
            "search": search,
            "pager": Pager(number, total, {"q": search}),
        },
    )


async def _new_form(
    request: Request,
    conn: Connection,
    viewer: Viewer,
    values: dict[str, str],
    error: Rejected | None = None,
) -> Response:
    units = await directory_view.load(conn)
    scope = scope_units(viewer.account, viewer.parents)
    day_now = today(now(request))
    return render(
        request,
        viewer,
        "admin/new.html",
        {
            "units": [units[code] for code in scope if not units[code].closed_on(day_now)],
            "roles": grantable(viewer.account, viewer.parents),
            "abbreviations": await store.abbreviations(conn, scope),
            "values": values,
            "error": error,
        },
        status=400 if error is not None else 200,
    )


@page(*ADMINS)
async def new_form(request: Request, conn: Connection, viewer: Viewer) -> Response:
    values = {"full_name": "", "unit": viewer.account.unit, "abbreviation": "", "role": ""}
    return await _new_form(request, conn, viewer, values)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"{value[:40]!r} is not a role") from None


async def _create(
    request: Request, conn: Connection, viewer: Viewer, values: dict[str, str]
) -> tuple[Account, str]:
    """Refuse (403) a unit or a role beyond the viewer's powers before anything else, so a
    forged form learns nothing; then the form's own mistakes (400)."""
    unit = values["unit"]
    role = _role(values["role"])
    accounts.require(
        accounts.may_administer(viewer.account, unit, role, viewer.parents),
        viewer.account,
        f"create a {role} account at {unit[:20]!r}",
    )
    check_organ_id(unit)
    entry = (await directory_view.load(conn)).get(unit)
    if entry is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"{unit} is not in the directory")
    if entry.closed_on(today(now(request))):
        raise Rejected(ReasonCode.UNIT_CLOSED, f"{unit} closed on {entry.valid_to}")
    abbreviation = values["abbreviation"] or (await store.abbreviations(conn, [unit])).get(unit)
    if not abbreviation:
        raise Rejected(
            ReasonCode.UNIT_ABBREVIATION_INVALID,
            f"{unit} has no account yet: give its abbreviation (Article 6.2's tendonvi)",
        )
    return await store.create(
        conn,
        full_name=values["full_name"],
        unit=unit,
        abbreviation=abbreviation,
        role=role,
        actor=viewer.account,
        now=now(request),
    )


@page(*ADMINS)
async def create(request: Request, conn: Connection, viewer: Viewer) -> Response:
    form = await request.form()
    values = {
        "full_name": form_text(form, "full_name", limit=MAX_NAME),
        "unit": form_text(form, "unit", limit=20),
        "abbreviation": form_text(form, "abbreviation", limit=40).lower(),
        "role": form_text(form, "role", limit=40),
    }
    try:
        account, password = await _create(request, conn, viewer, values)
    except Rejected as exc:
        return await _new_form(request, conn, viewer, values, exc)
    return _issued(request, viewer, account, password, await _unit_names(conn), reset=False)


def _issued(
    request: Request,
    viewer: Viewer,
    account: Account,
    password: str,
    names: dict[str, str],
    *,
    reset: bool,
) -> Response:
    return render(
        request,
        viewer,
        "admin/issued.html",
        {"account": account, "password": password, "names": names, "reset": reset},
    )


@page(*ADMINS)
async def account_page(request: Request, conn: Connection, viewer: Viewer) -> Response:
    account = await _target(conn, viewer, request.path_params["username"])
    events, _total = await store.events(
        conn,
        scope_units(viewer.account, viewer.parents),
        user=account.username,
        limit=RECENT_EVENTS,
        offset=0,
    )
    done = request.query_params.get("done", "")
    return render(
        request,
        viewer,
        "admin/account.html",
        {
            **FORMATS,
            "account": account,
            "names": await _unit_names(conn),
            "may_act": administers(viewer.account, account, viewer.parents),
            "events": events,
            "done": done if done in DONE else "",
        },
    )


@page(*ADMINS)
async def lock(request: Request, conn: Connection, viewer: Viewer) -> Response:
    account = await _target(conn, viewer, request.path_params["username"])
    _require_administers(viewer, account, "lock")
    reason = form_text(await request.form(), "reason", limit=MAX_NOTE)
    if not reason:
        raise Rejected(ReasonCode.REQUEST_MALFORMED, "a lock needs its reason (Article 7.4)")
    await store.lock(conn, account.username, actor=viewer.account, now=now(request), note=reason)
    await sessions.close_others(conn, account.username, None)
    return RedirectResponse(f"/accounts/{account.username}?done=locked", status_code=303)


@page(*ADMINS)
async def unlock(request: Request, conn: Connection, viewer: Viewer) -> Response:
    account = await _target(conn, viewer, request.path_params["username"])
    _require_administers(viewer, account, "unlock")
    note = form_text(await request.form(), "note", limit=MAX_NOTE)
    await store.unlock(conn, account.username, actor=viewer.account, now=now(request), note=note)
    return RedirectResponse(f"/accounts/{account.username}?done=unlocked", status_code=303)


@page(*ADMINS)
async def reset(request: Request, conn: Connection, viewer: Viewer) -> Response:
    """A new one-time password; whoever holds a session of the account loses it, since it
    would otherwise be asked for a password it was never given."""
    account = await _target(conn, viewer, request.path_params["username"])
    _require_administers(viewer, account, "reset the password of")
    password = await store.reset_password(
        conn, account.username, actor=viewer.account, now=now(request)
    )
    await sessions.close_others(conn, account.username, None)
    return _issued(request, viewer, account, password, await _unit_names(conn), reset=True)


@page(*ADMINS)
async def audit(request: Request, conn: Connection, viewer: Viewer) -> Response:
    params = request.query_params
    user = params.get("user", "").strip().lower()[:80]
    start, end = params.get("from", "")[:20], params.get("to", "")[:20]
    since, before = period(day(start, "from"), day(end, "to"))
    number = page_number(params.get("page"))
    events, total = await store.events(
        conn,
        scope_units(viewer.account, viewer.parents),
        user=user,
        since=since,
        before=before,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    filters = {"user": user, "from": start, "to": end}
    return render(
        request,
        viewer,
        "admin/audit.html",
        {**FORMATS, "events": events, "filters": filters, "pager": Pager(number, total, filters)},
    )


routes = [
    Route("/accounts", listing, methods=["GET"]),
    Route("/accounts/new", new_form, methods=["GET"]),
    Route("/accounts/new", create, methods=["POST"]),
    Route("/accounts/{username}", account_page, methods=["GET"]),
    Route("/accounts/{username}/lock", lock, methods=["POST"]),
    Route("/accounts/{username}/unlock", unlock, methods=["POST"]),
    Route("/accounts/{username}/reset", reset, methods=["POST"]),
    Route("/audit", audit, methods=["GET"]),
]
menu = [
    MenuItem("/accounts", "Accounts", roles=ADMINS, order=85),
    MenuItem("/audit", "Audit", roles=ADMINS, order=90),
]
