"""Every page of the console goes through `page`: the session, the CSRF token, the forced
password change and the role, checked before the view runs, so a view only decides what
its viewer may see of a unit (`Viewer.require_read`).

A form is accepted only with its session's synchronizer token (`csrf` field) and, when the
browser says where it comes from (`Origin`, `Sec-Fetch-Site`), only from this console.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hmac
from collections.abc import Awaitable, Callable, Collection, Mapping
from urllib.parse import quote

import asyncpg
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console import accounts, sessions
from console.accounts import Account, Role
from console.store import parents as unit_parents
from kernel.database import Connection
from kernel.errors import AccessDenied
from kernel.reasons import ReasonCode

SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_FIELD = "csrf"
MAX_FORM_FIELDS = 200
PASSWORD_PAGE = "/password"  # noqa: S105 (a path, not a password)


@dataclasses.dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in account, its session's CSRF token and the unit tree its scope is
    judged on."""

    account: Account
    csrf: str
    token: str
    parents: Mapping[str, str | None]

    def may_read(self, unit: str) -> bool:
        return accounts.may_read_registers(self.account, unit, self.parents)

    def require_read(self, unit: str) -> None:
        accounts.require(self.may_read(unit), self.account, f"read the registers of {unit}")

    def readable_units(self) -> list[str]:
        """Every unit whose registers this viewer may read, in code order."""
        return sorted(unit for unit in self.parents if self.may_read(unit))

    def has_role(self, roles: Collection[Role]) -> bool:
        return self.account.role in roles


Handler = Callable[[Request, Connection, Viewer], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def now(request: Request) -> datetime.datetime:
    """The console's clock (`app.state.clock`), which tests may move."""
    clock: Callable[[], datetime.datetime] = request.app.state.clock
    return clock()


def pool(request: Request) -> asyncpg.Pool:
    database: asyncpg.Pool = request.app.state.pool
    return database


def client(request: Request) -> str:
    return request.client.host if request.client else ""


def same_host(origin: str, request: Request) -> bool:
    """Whether `origin` names the host (and port) this request was sent to. The scheme is
    not compared: behind the TLS reverse proxy the console is deployed behind, the browser's
    origin is https while the console itself is spoken to in plain HTTP."""
    scheme, _, host = origin.lower().partition("://")
    return scheme in ("http", "https") and host == request.headers.get("host", "").lower()


def check_origin(request: Request) -> None:
    """Refuse a form a browser says another site sent (defence beside the token)."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if (origin is not None and not same_host(origin, request)) or site in (
        "cross-site",
        "same-site",
    ):
        raise AccessDenied(ReasonCode.CSRF_INVALID, f"a form from {origin or site!r} is refused")


async def checked_form(request: Request, expected: str) -> FormData:
    """The request's form, if it carries `expected` as its CSRF token; AccessDenied if not."""
    check_origin(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("ascii")
    ):
        raise AccessDenied(ReasonCode.CSRF_INVALID, "the form's CSRF token is missing or wrong")
    return form


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this console only, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def page(*roles: Role, password_change: bool = False) -> Callable[[Handler], Endpoint]:
    """The view for logged-in accounts of `roles` (any role when none is named).

    With no session a GET goes to the login page, anything else is refused; an account that
    must change its password sees nothing but the password page (Article 9.2(b))."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            async with pool(request).acquire() as conn:
                token = request.cookies.get(sessions.COOKIE)
                session = await sessions.find(conn, token, now=now(request))
                if session is None:
                    if request.method in SAFE_METHODS:
                        return RedirectResponse(
                            f"/login?next={quote(request.url.path, safe='/')}", status_code=303
                        )
                    raise AccessDenied(ReasonCode.SESSION_REQUIRED, "log in first")
                assert token is not None
                if request.method not in SAFE_METHODS:
                    await checked_form(request, session.csrf)
                account = session.account
                if account.must_change_password and not password_change:
                    if request.method in SAFE_METHODS:
                        return RedirectResponse(PASSWORD_PAGE, status_code=303)
                    raise AccessDenied(
                        ReasonCode.ACCOUNT_SCOPE_FORBIDDEN, "change the password first"
                    )
                if roles and account.role not in roles:
                    raise AccessDenied(
                        ReasonCode.ACCOUNT_SCOPE_FORBIDDEN,
                        f"{account.username} ({account.role}) may not open {request.url.path}",
                    )
                viewer = Viewer(account, session.csrf, token, await unit_parents(conn))
                return await handler(request, conn, viewer)

        return endpoint

    return wrap


def form_text(form: FormData, name: str, *, limit: int = 2000) -> str:
    """A text field, stripped and cut to `limit` characters ('' when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
