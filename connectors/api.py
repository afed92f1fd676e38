"""The connector's HTTP API for an agency's document system, described at /openapi.json.

Every operation is also a `lienthong` command. Refusals answer 422 with the reason code,
an unknown unit or document 404, and nothing is half-done: a document is numbered,
signed and queued in one transaction before the answer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from connectors import packing, registers
from connectors.service import Connector
from kernel.errors import LienthongError, Rejected
from kernel.reasons import ReasonCode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONNECTOR: web.AppKey[Connector] = web.AppKey("connector", Connector)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Rejected as exc:
        status = 404 if exc.reason == ReasonCode.UNIT_UNKNOWN else 422
        return _json({"reason_code": exc.reason.value, "reason": exc.message}, status)
    except LienthongError as exc:
        return _json({"reason_code": exc.reason.value, "reason": exc.message}, 503)


def _unit(request: web.Request) -> str:
    unit = request.match_info["unit"]
    if unit not in request.app[CONNECTOR].units:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"this connector does not host {unit}")
    return unit


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        value = await request.json()
    except ValueError:
        raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "the request body must be a JSON object")
    return value


def _decode(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(ReasonCode.ATTACHMENT_NOT_BASE64, f"{what} is not base64") from None


async def send_document(request: web.Request) -> web.Response:
    unit = _unit(request)
    body = await _body(request)
    to = body.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(t, str) for t in to):
        raise Rejected(ReasonCode.ORGANID_INVALID, "`to` must be a non-empty list of unit codes")
    attachments = []
    for index, item in enumerate(body.get("attachments") or []):
        attachments.append(
            packing.attachment_of(
                str(item.get("name") or f"attachment-{index + 1}"),
                str(item.get("media_type") or "application/octet-stream"),
                _decode(item.get("content"), f"attachments[{index}].content"),
            )
        )
    fields = body.get("fields")
    if isinstance(fields, dict) and "edxml" not in body:
        document = packing.edxml_from_fields(unit, fields)
    else:
        document = _decode(body.get("edxml"), "edxml")
    sent, number = await request.app[CONNECTOR].send(unit, document, to, attachments)
    return _json(
        {"message_id": sent.message_id, "number": number, "kind": sent.kind,
         "document_id": sent.document_id},
        201,
    )  # fmt: skip


async def list_inbox(request: web.Request) -> web.Response:
    unit = _unit(request)
    async with request.app[CONNECTOR].pool.acquire() as conn:
        return _json(await registers.incoming_list(conn, unit))


async def get_incoming(request: web.Request) -> web.Response:
    unit = _unit(request)
    async with request.app[CONNECTOR].pool.acquire() as conn:
        entry = await registers.incoming_entry(conn, unit, request.match_info["message_id"])
    if entry is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, "no such incoming document")
    return _json(entry)


async def post_status(request: web.Request) -> web.Response:
    unit = _unit(request)
    body = await _body(request)
    status = await request.app[CONNECTOR].post_status(
        unit, request.match_info["message_id"], str(body.get("code")), body.get("reason")
    )
    return _json({"status_id": status.message_id, "code": status.status_code}, 201)


async def delivery_state(request: web.Request) -> web.Response:
    unit = _unit(request)
    async with request.app[CONNECTOR].pool.acquire() as conn:
        entry = await registers.outgoing_entry(conn, unit, request.match_info["message_id"])
    if entry is None:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, "no such outgoing document")
    return _json(entry)


async def follow_up(request: web.Request) -> web.Response:
    unit = _unit(request)
    body = await _body(request)
    sent, number = await request.app[CONNECTOR].follow_up(
        unit,
        request.match_info["message_id"],
        request.match_info["kind"],
        reason=str(body.get("reason") or ""),
        fields=body.get("fields") if isinstance(body.get("fields"), dict) else None,
    )
    return _json({"message_id": sent.message_id, "number": number, "kind": sent.kind}, 201)


async def health(request: web.Request) -> web.Response:
    return _json({"units": request.app[CONNECTOR].units, "healthy": True})


async def openapi(request: web.Request) -> web.Response:
    return _json(OPENAPI)


def application(connector: Connector) -> web.Application:
    app = web.Application(
        middlewares=[_errors], client_max_size=connector.settings.max_message_bytes
    )
    app[CONNECTOR] = connector
    app.router.add_post("/units/{unit}/documents", send_document)
    app.router.add_get("/units/{unit}/documents/{message_id}", delivery_state)
    app.router.add_post(
        "/units/{unit}/documents/{message_id}/{kind:revoke|update|replace}", follow_up
    )
    app.router.add_get("/units/{unit}/inbox", list_inbox)
    app.router.add_get("/units/{unit}/inbox/{message_id}", get_incoming)
    app.router.add_post("/units/{unit}/inbox/{message_id}/status", post_status)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    return app


OPENAPI: dict[str, Any] = yaml.safe_load(
    Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8")
)


@contextlib.asynccontextmanager
async def serving(connector: Connector, host: str, port: int) -> AsyncIterator[int]:
    """Serve the API while the block runs; yields the port (useful with port 0)."""
    runner = web.AppRunner(application(connector), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
