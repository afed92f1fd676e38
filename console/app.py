"""The console as an ASGI application: its pages (every module of console.views), its
assets, and the perimeter every response passes (the Host check against DNS rebinding and
headers that keep pages out of frames, caches and other origins' scripts).

Errors come out as pages that name their reason code, in the viewer's language.
"""

from __future__ import annotations

import datetime
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from limits import storage, strategies
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import views
from console.templating import STATIC, MenuItem, render
from kernel.errors import AccessDenied, LienthongError, Rejected
from kernel.hosts import host_allowed
from kernel.reasons import ReasonCode
from kernel.settings import Settings

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024
"""A console form is a few fields; nothing it takes is larger."""
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HTTP_REASONS = {
    404: ReasonCode.NOT_FOUND,
    405: ReasonCode.METHOD_NOT_ALLOWED,
    413: ReasonCode.REQUEST_TOO_LARGE,
}


class Perimeter:
    """Host check, body limit and security headers, as plain ASGI around everything."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...], port: int) -> None:
        self.app, self.hosts, self.port = app, hosts, port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        served = scope.get("server")
        port = int(served[1]) if served and served[1] is not None else self.port
        if not host_allowed(host, self.hosts, port):
            response = PlainTextResponse(
                f"{ReasonCode.HOST_FORBIDDEN}: this console does not answer for {host!r}", 421
            )
            await response(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            response = PlainTextResponse(str(ReasonCode.REQUEST_TOO_LARGE), 413)
            await response(scope, receive, send)
            return
        no_store = not str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_HEADERS]
                if no_store:
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, _limited(receive), send_with_headers)


def _limited(receive: Receive) -> Receive:
    """A body longer than MAX_BODY_BYTES (chunked, with no Content-Length) ends the request."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise HTTPException(413)
        return message

    return limited


def _status(exc: LienthongError) -> int:
    if isinstance(exc, AccessDenied):
        return 403
    if exc.reason == ReasonCode.NOT_FOUND:
        return 404
    if isinstance(exc, Rejected):
        return 400
    return 503 if exc.retriable else 500


async def _lienthong_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LienthongError)
    status = _status(exc)
    log.info("console refused", path=request.url.path, reason=str(exc.reason), status=status)
    return render(
        request, None, "error.html", {"reason": exc.reason, "status": status}, status=status
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = _HTTP_REASONS.get(exc.status_code, ReasonCode.REQUEST_MALFORMED)
    response = render(
        request,
        None,
        "error.html",
        {"reason": reason, "status": exc.status_code},
        status=exc.status_code,
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("console page failed", path=request.url.path)
    return render(
        request,
        None,
        "error.html",
        {"reason": ReasonCode.SERVICE_FAILED, "status": 500},
        status=500,
    )


def _views() -> tuple[list[BaseRoute], list[MenuItem]]:
    """Every module of console.views gives `routes` and, if it has any, `menu` items."""
    routes: list[BaseRoute] = []
    menu: list[MenuItem] = []
    for module_info in sorted(pkgutil.iter_modules(views.__path__), key=lambda m: m.name):
        module: Any = importlib.import_module(f"{views.__name__}.{module_info.name}")
        routes.extend(module.routes)
        menu.extend(getattr(module, "menu", ()))
    return routes, sorted(menu, key=lambda item: (item.order, item.path))


def create_app(
    settings: Settings,
    database: asyncpg.Pool,
    *,
    clock: Callable[[], datetime.datetime] | None = None,
) -> ASGIApp:
    routes, menu = _views()
    app = Starlette(
        routes=[*routes, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        exception_handlers={
            LienthongError: _lienthong_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.settings = settings
    app.state.pool = database
    app.state.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
    app.state.menu = menu
    app.state.login_limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    return Perimeter(app, settings.console_hosts, settings.console_port)
