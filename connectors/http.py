"""What both HTTP APIs of the connector (its own and the axis protocol's) say when aiohttp
itself refuses a request (an unknown path, a wrong method, a body over the limit): the same
reason codes, each API in its own answer shape."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import hdrs, web

from kernel.reasons import ReasonCode

_HTTP_REASONS = {
    404: ReasonCode.NOT_FOUND,
    405: ReasonCode.METHOD_NOT_ALLOWED,
    413: ReasonCode.REQUEST_TOO_LARGE,
}


def framework_refusal(
    request: web.Request,
    exc: web.HTTPException,
    answer: Callable[[ReasonCode, str, int], web.Response],
) -> web.Response:
    """aiohttp's own refusal as `answer` shapes it, its `Allow` header kept."""
    reason = _HTTP_REASONS.get(exc.status, ReasonCode.REQUEST_MALFORMED)
    message = reason.sentence_en
    if reason == ReasonCode.REQUEST_TOO_LARGE:
        message = f"the request body is larger than {request.client_max_size} bytes"
    response = answer(reason, message, exc.status)
    if hdrs.ALLOW in exc.headers:
        response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
    return response
