"""Logging in and out, the forced password change (Article 9.2(b)) and the language.

Logins are rate-limited per client address and per user name (a moving window kept in the
console's memory, `app.state.login_limiter`: the console is one process), before any
password is hashed, so guessing costs the
guesser time and the console no CPU. The account lockout of console.accounts stands behind.
"""

from __future__ import annotations

import hmac
import ipaddress

from limits import parse, strategies
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import i18n, sessions, store
from console.guard import (
    CSRF_FIELD,
    PASSWORD_PAGE,
    Viewer,
    check_origin,
    client,
    form_text,
    now,
    page,
    pool,
    safe_next,
)
from console.templating import render
from kernel.database import Connection
from kernel.errors import AccessDenied, LienthongError, Rejected
from kernel.reasons import ReasonCode

PER_CLIENT = parse("20/minute")
PER_USER = parse("10/minute")
_COOKIE = {"httponly": True, "secure": True, "samesite": "strict", "path": "/"}


def client_key(address: str) -> str:
    """Whom the per-client limit counts: an IPv4 address, or an IPv6 address's /64, which
    one subscriber commonly holds whole (counting single addresses, it would count nobody)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _login_page(
    request: Request, token: str, error: LienthongError | None = None, *, status: int = 200
) -> Response:
    response = render(
        request,
        None,
        "login.html",
        {"login_token": token, "error": error, "next": safe_next(request.query_params.get("next"))},
        status=status,
    )
    if request.cookies.get(sessions.LOGIN_COOKIE) != token:
        response.set_cookie(sessions.LOGIN_COOKIE, token, max_age=3600, **_COOKIE)  # type: ignore[arg-type]
    return response


async def login_form(request: Request) -> Response:
    cookie = request.cookies.get(sessions.LOGIN_COOKIE)
    token = cookie if sessions.well_formed(cookie) else sessions.new_token()
    return _login_page(request, token)


async def login(request: Request) -> Response:
    check_origin(request)
    cookie = request.cookies.get(sessions.LOGIN_COOKIE)
    form = await request.form(max_files=0, max_fields=10)
    given = form_text(form, CSRF_FIELD, limit=100).encode("utf-8", "replace")
    if not sessions.well_formed(cookie) or not hmac.compare_digest(given, cookie.encode()):
        raise AccessDenied(ReasonCode.CSRF_INVALID, "the login form's token is missing or wrong")
    username = form_text(form, "username", limit=80).lower()
    password = form_text(form, "password", limit=200)
    limiter: strategies.RateLimiter = request.app.state.login_limiter
    if not (
        limiter.hit(PER_CLIENT, "login-client", client_key(client(request)))
        and limiter.hit(PER_USER, "login-user", username)
    ):
        error = AccessDenied(ReasonCode.LOGIN_RATE_LIMITED, "too many login attempts")
        response = _login_page(request, cookie, error, status=429)
        response.headers["retry-after"] = "60"
        return response
    async with pool(request).acquire() as conn:
        try:
            account = await store.login(conn, username, password, now=now(request))
        except (AccessDenied, Rejected) as exc:
            return _login_page(request, cookie, exc, status=403)
        # Whatever session this browser held before (another user's at a shared desk) ends.
        await sessions.close(conn, request.cookies.get(sessions.COOKIE))
        token, _session = await sessions.open_session(
            conn, account, now=now(request), client=client(request)
        )
    target = PASSWORD_PAGE if account.must_change_password else safe_next(form_text(form, "next"))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(sessions.COOKIE, token, **_COOKIE)  # type: ignore[arg-type]
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/", secure=True, httponly=True)
    return response


@page(password_change=True)
async def logout(request: Request, conn: Connection, viewer: Viewer) -> Response:
    await sessions.close(conn, viewer.token)
    await store.record_act(conn, viewer.account, "logout", now=now(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", secure=True, httponly=True)
    return response


@page(password_change=True)
async def password_form(request: Request, conn: Connection, viewer: Viewer) -> Response:
    return render(request, viewer, "password.html", {"error": None})


@page(password_change=True)
async def password(request: Request, conn: Connection, viewer: Viewer) -> Response:
    form = await request.form()
    new = form_text(form, "new", limit=200)
    if new != form_text(form, "repeat", limit=200):
        error = Rejected(ReasonCode.PASSWORD_TOO_WEAK, "the two new passwords differ")
        return render(request, viewer, "password.html", {"error": error}, status=400)
    try:
        await store.change_password(
            conn,
            viewer.account.username,
            form_text(form, "current", limit=200),
            new,
            now=now(request),
        )
    except (AccessDenied, Rejected) as exc:
        return render(request, viewer, "password.html", {"error": exc}, status=400)
    # A new session under a new cookie: whoever held any cookie of this account before the
    # change, this browser's own included, holds nothing now.
    await sessions.close_others(conn, viewer.account.username, None)
    token, _session = await sessions.open_session(
        conn, viewer.account, now=now(request), client=client(request)
    )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(sessions.COOKIE, token, **_COOKIE)  # type: ignore[arg-type]
    return response


async def choose_language(request: Request) -> Response:
    """A preference, not an act: a GET that sets a cookie and changes nothing stored."""
    lang = i18n.language(request.path_params["lang"])
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route(PASSWORD_PAGE, password_form, methods=["GET"]),
    Route(PASSWORD_PAGE, password, methods=["POST"]),
    Route("/lang/{lang}", choose_language, methods=["GET"]),
]
