"""The connector's HTTP API for an agency's document system, described at /openapi.json.

Every operation is also a `lienthong` command. Nothing is half-done: a document is numbered,
signed and queued in one transaction before the answer.

The perimeter, in the order a request meets it:
1. `Host` must be one of LIENTHONG_CONNECTOR_HOSTS (default the loopback names), else 421
   `host_forbidden`: a page whose DNS name is rebound to 127.0.0.1 still says its own name.
2. An `Origin` header, which browsers add to cross-site requests, must be one of
   LIENTHONG_CONNECTOR_ORIGINS (none by default), else 403 `origin_forbidden`. No CORS
   headers are sent: an allowed origin is a web UI served from the same origin.
3. Everything but /health and /openapi.json, paths that do not exist included, needs
   `Authorization: Bearer <token>` (`connectors.credentials`): 401 `credentials_missing` or
   `credentials_invalid`; a credential acts only for its own units, 403 `unit_forbidden`.
   Under /vxp the national axis protocol is served instead (`connectors.vxp`): existing
   agency systems sign each request with their shared secret (HMAC) and cannot send a
   bearer token, so that signature replaces step 3, and its answers take the protocol's
   JSON shape; steps 1 and 2 apply to it all the same.
4. Bodies are `application/json` (415 `media_type_unsupported`): a form or `text/plain`
   post, the only kinds a foreign page can send without a CORS preflight, is refused.
   (/vxp takes raw edXML: its signature headers already need a preflight nobody grants.)
5. A body that is not a JSON object, a field of the wrong JSON type or an undefined property
   is 400 `request_malformed`; a required value that is missing or empty, or breaks a rule
   of the exchange, is 422 with that rule's reason code.

Every error, aiohttp's own 404, 405 and 413 included, is `{"reason_code", "reason"}`.
/health and /openapi.json stay public: they say which units are hosted and what the API
is, which a caller needs before it has a credential and which no attacker can act on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import structlog
import yaml
from aiohttp import hdrs, web

from connectors import api_metrics, credentials, http, listing, packing, registers, vxp
from connectors.service import PRIORITIES, Connector
from kernel import claims, database
from kernel.errors import AccessDenied, LienthongError, Rejected, Undeliverable
from kernel.hosts import host_allowed
from kernel.reasons import ReasonCode
from schemas.envelope import AttachmentRef

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONNECTOR: web.AppKey[Connector] = web.AppKey("connector", Connector)
PUBLIC = frozenset({"/health", "/openapi.json"})
log = structlog.get_logger(__name__)

_STATUS = {
    ReasonCode.CREDENTIALS_MISSING: 401,
    ReasonCode.CREDENTIALS_INVALID: 401,
    ReasonCode.UNIT_FORBIDDEN: 403,
    ReasonCode.ORIGIN_FORBIDDEN: 403,
    ReasonCode.HOST_FORBIDDEN: 421,
    ReasonCode.MEDIA_TYPE_UNSUPPORTED: 415,
    ReasonCode.REQUEST_MALFORMED: 400,
    ReasonCode.REQUEST_TOO_LARGE: 413,
    ReasonCode.NOT_FOUND: 404,
    ReasonCode.UNIT_UNKNOWN: 404,
    ReasonCode.METHOD_NOT_ALLOWED: 405,
}
# JSON can carry what no edXML packet or PostgreSQL text can: NUL and the other C0 controls
# but tab, LF and CR, lone surrogates, and the noncharacters U+FFFE and U+FFFF.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MESSAGE_ID_MAX = 200
_POSITION = re.compile("[0-9]{1,6}")
_DOCUMENT_FIELDS: dict[str, type[object]] = {
    **dict.fromkeys(
        ("subject", "content", "type_name", "code_number", "code_notation", "place",
         "promulgation_date", "due_date", "signer_name", "signer_position", "competence",
         "business_doc_reason", "document_id", "organ_name"),
        str,
    ),
    "type": int, "priority": int, "business_doc_type": int, "to_places": list,
}  # fmt: skip
_RANGES = {"priority": PRIORITIES, "business_doc_type": range(4)}
_PAGING = frozenset({"after", "since", "limit"})
_ATTACHMENT = ("name", "media_type", "sha256", "size", "content", "reference")
_STATUS_ROW = ("recipient", "status_code", "reason_code", "description", "at")
_TYPE_NAMES = {str: "a string", int: "a whole number", list: "a list", dict: "an object"}


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


def _error(reason: ReasonCode, message: str, status: int) -> web.Response:
    response = _json({"reason_code": reason.value, "reason": message}, status)
    if status == 401:
        challenge = 'Bearer realm="lienthong"'
        if reason == ReasonCode.CREDENTIALS_INVALID:
            challenge += ', error="invalid_token"'
        response.headers[hdrs.WWW_AUTHENTICATE] = challenge
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One JSON error shape for every refusal, aiohttp's own included; a bug is a logged 500.
    The axis protocol's requests get that protocol's shape instead."""
    if vxp.serves(request):
        return await vxp.answering(request, handler)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return http.framework_refusal(request, exc, _error)
    except AccessDenied as exc:
        return _error(exc.reason, exc.message, _STATUS.get(exc.reason, 403))
    except Undeliverable as exc:
        return _error(exc.reason, exc.message, 422)
    except Rejected as exc:
        return _error(exc.reason, exc.message, _STATUS.get(exc.reason, 422))
    except LienthongError as exc:
        return _error(exc.reason, exc.message, 503)
    except Exception:
        log.exception("connector api failed", method=request.method, path=request.path)
        return _error(ReasonCode.SERVICE_FAILED, "the connector failed; see its log", 500)


def _served_port(request: web.Request) -> int | None:
    """The port this connection came in on (the API may be served on port 0 in tests)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if isinstance(sockname, tuple) and len(sockname) >= 2 else None


@web.middleware
async def _perimeter(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host, Origin, then credentials and the unit they may act for (see the module doc)."""
    settings = request.app[CONNECTOR].settings
    host = request.headers.get(hdrs.HOST)
    if not host_allowed(host, settings.connector_hosts, _served_port(request)):
        raise AccessDenied(ReasonCode.HOST_FORBIDDEN, f"this API does not answer for {host!r}")
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and origin.lower() not in settings.connector_origins:
        raise AccessDenied(ReasonCode.ORIGIN_FORBIDDEN, f"requests from {origin!r} are refused")
    if vxp.serves(request):
        await vxp.authenticate(request, request.app[CONNECTOR])  # its HMAC, not a bearer token
    elif request.path not in PUBLIC:
        token = credentials.bearer(request.headers.get(hdrs.AUTHORIZATION))
        with database.mapped_errors("checking the API credentials"):
            async with request.app[CONNECTOR].pool.acquire() as conn:
                credential = await credentials.verify(conn, token)
        unit = request.match_info.get("unit")
        if unit is not None:
            credentials.authorise(credential, unit)
    return await handler(request)


def _malformed(message: str) -> Rejected:
    return Rejected(ReasonCode.REQUEST_MALFORMED, message)


def _unit(request: web.Request) -> str:
    unit = request.match_info["unit"]
    if unit not in request.app[CONNECTOR].units:
        raise Rejected(ReasonCode.UNIT_UNKNOWN, f"this connector does not host {unit}")
    return unit


def _message_id(request: web.Request) -> str:
    """No stored message id holds a control character (PostgreSQL text cannot hold NUL)."""
    message_id = request.match_info["message_id"]
    if len(message_id) > _MESSAGE_ID_MAX or _NOT_TEXT.search(message_id):
        raise Rejected(ReasonCode.NOT_FOUND, "no such message")
    return message_id


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object: UTF-8 `application/json` (RFC 8259), nothing else."""
    given = request.headers.get(hdrs.CONTENT_TYPE)
    if given is None or request.content_type != "application/json":
        raise Rejected(
            ReasonCode.MEDIA_TYPE_UNSUPPORTED,
            f"send the body as application/json, not {given or 'untyped'}",
        )
    if (request.charset or "utf-8").lower() != "utf-8":
        raise Rejected(ReasonCode.MEDIA_TYPE_UNSUPPORTED, "JSON is UTF-8 (RFC 8259)")
    raw = await request.read()
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed("the request body is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise _malformed("the request body must be a JSON object")
    _check_text(value)
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_text(value: object) -> None:
    """Every string in the body, keys too; a loop, as the nesting may be as deep as JSON's."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _NOT_TEXT.search(item):
                raise _malformed("a string in the body holds a control character or a surrogate")
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _only(body: Mapping[str, Any], names: set[str], where: str) -> None:
    unknown = set(body) - names
    if unknown:
        raise _malformed(f"{where} has no property {', '.join(sorted(map(repr, unknown)))}")


def _field(body: Mapping[str, Any], name: str, kind: type[T], where: str) -> T | None:
    """The property if given, of exactly its JSON type (a boolean is not a number); else None."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(f"{where}.{name} must be {_TYPE_NAMES[kind]}")
    return value


def _strings(values: list[Any], where: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise _malformed(f"{where} must be a list of strings")
    return values


def _decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(ReasonCode.ATTACHMENT_NOT_BASE64, f"{what} is not base64") from None


def _document_fields(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """The types the OpenAPI gives; names it does not know are the edXML writer's to refuse."""
    for name, kind in _DOCUMENT_FIELDS.items():
        value = _field(fields, name, kind, where)
        if isinstance(value, list):
            _strings(value, f"{where}.{name}")
        allowed = _RANGES.get(name)
        if allowed is not None and value is not None and value not in allowed:
            raise Rejected(
                ReasonCode.EDXML_INVALID_VALUE,
                f"{where}.{name} must be {allowed.start} to {allowed.stop - 1}, not {value}",
            )
    return fields


def _attachments(body: Mapping[str, Any]) -> list[AttachmentRef]:
    attached = []
    for index, item in enumerate(_field(body, "attachments", list, "the body") or []):
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise _malformed(f"{where} must be an object")
        _only(item, {"name", "media_type", "content", "reference"}, where)
        content = _field(item, "content", str, where)
        reference = _field(item, "reference", str, where)
        name = _field(item, "name", str, where) or f"attachment-{index + 1}"
        media_type = _field(item, "media_type", str, where) or "application/octet-stream"
        if reference is not None and content is None:
            sha256 = claims.digest_of(reference)
            attached.append(AttachmentRef(name, media_type, sha256, 0, reference=reference))
            continue
        if reference is not None:
            raise Rejected(
                ReasonCode.ATTACHMENT_REFERENCE_INVALID,
                f"{where} gives both `content` and `reference`: one only",
            )
        if not content:
            raise Rejected(
                ReasonCode.ATTACHMENT_NOT_BASE64,
                f"{where} needs `content` (base64) or `reference` (from POST .../attachments)",
            )
        attached.append(packing.attachment_of(name, media_type, _decode(content, where)))
    return attached


async def upload_attachment(request: web.Request) -> web.Response:
    """A large attachment streamed into the claim-check store, never held whole; the
    answer's `reference` is then given in a document's `attachments`."""
    unit = _unit(request)
    if request.content_type != "application/octet-stream":
        raise Rejected(
            ReasonCode.MEDIA_TYPE_UNSUPPORTED, "upload the file as application/octet-stream"
        )
    connector = request.app[CONNECTOR]
    claim = await connector.claims.store.put(
        request.content.iter_chunked(claims.CHUNK), limit=connector.claims.max_bytes
    )
    await connector.record_upload(unit, claim.sha256, claim.size)
    return _json({"reference": claim.reference, "sha256": claim.sha256, "size": claim.size}, 201)


async def get_attachment(request: web.Request) -> web.StreamResponse:
    """An incoming attachment's bytes, streamed; one carried by reference is checked against
    its signed SHA-256 on the way, and the answer breaks off rather than end on bytes that
    were not signed."""
    unit = _unit(request)
    message_id = _message_id(request)
    position = request.match_info["position"]
    async with request.app[CONNECTOR].pool.acquire() as conn:
        entry = await registers.incoming_entry(conn, unit, message_id)
    files = entry["attachments"] if entry else []
    if not _POSITION.fullmatch(position) or int(position) >= len(files):
        raise Rejected(ReasonCode.NOT_FOUND, f"{unit} has no such attachment of {message_id}")
    file = files[int(position)]
    if file["content"] is not None:
        chunks = _one(file["content"])
    else:
        store = request.app[CONNECTOR].claims.store
        chunks = claims.verified(store, file["reference"], file["sha256"], file["size"])
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: "application/octet-stream",  # never rendered by a browser
            hdrs.CONTENT_LENGTH: str(file["size"]),
            hdrs.CONTENT_DISPOSITION: "attachment",
            "X-Content-Type-Options": "nosniff",
            # RFC 9530: a client checks what it got against what the sender signed.
            "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(file['sha256'])).decode()}:",
        }
    )
    async with contextlib.aclosing(chunks):  # closed too when the client goes away
        return await _stream(request, response, chunks, unit, message_id)


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    unit: str,
    message_id: str,
) -> web.StreamResponse:
    first = await anext(chunks, b"")  # a missing file is refused before any byte is sent
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except LienthongError as exc:  # too late for an error answer: the status is sent
        log.error("attachment download broken off", unit=unit, message_id=message_id,
                  reason_code=exc.reason.value, error=exc.message)  # fmt: skip
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


async def _one(content: bytes) -> AsyncGenerator[bytes]:
    yield content


async def send_document(request: web.Request) -> web.Response:
    unit = _unit(request)
    body = await _body(request)
    _only(body, {"to", "edxml", "fields", "attachments"}, "the body")
    to = _strings(_field(body, "to", list, "the body") or [], "to")
    edxml = _field(body, "edxml", str, "the body")
    fields = _field(body, "fields", dict, "the body")
    attachments = _attachments(body)
    if edxml is not None and fields is not None:
        raise _malformed("give `edxml` or `fields`, not both")
    if not to:
        raise Rejected(ReasonCode.ORGANID_INVALID, "`to` must be a non-empty list of unit codes")
    if fields is not None:
        document = packing.edxml_from_fields(unit, _document_fields(fields, "fields"), to)
    elif edxml is not None:
        document = _decode(edxml, "edxml")
    else:
        raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "give the document as `edxml` or `fields`")
    sent, number = await request.app[CONNECTOR].send(
        unit, document, to, attachments, check_first=True
    )
    return _json(
        {"message_id": sent.message_id, "number": number, "kind": sent.kind,
         "document_id": sent.document_id},
        201,
    )  # fmt: skip


def _paging(
    request: web.Request, register: listing.Register
) -> tuple[listing.Cursor, datetime.datetime | None, int]:
    """The listing's query: `after`, `since`, `limit`, each at most once, nothing else (a
    misspelt `after` would silently start the poll over)."""
    query = request.query
    unknown = set(query) - _PAGING
    if unknown:
        raise _malformed(
            f"a listing takes after, since and limit, not {', '.join(sorted(map(repr, unknown)))}"
        )
    repeated = sorted(name for name in _PAGING if len(query.getall(name, [])) > 1)
    if repeated:
        raise _malformed(f"give {repeated[0]} once")
    after = query.get("after")
    cursor = listing.Cursor(register) if after is None else listing.Cursor.parse(after, register)
    return cursor, listing.moment_of(query.get("since")), listing.limit_of(query.get("limit"))


async def list_inbox(request: web.Request) -> web.Response:
    """The incoming register in số đến order, a page at a time (connectors.listing)."""
    unit = _unit(request)
    after, since, limit = _paging(request, "in")
    async with request.app[CONNECTOR].pool.acquire() as conn:
        page = await listing.page(conn, unit, after, since=since, limit=limit)
    return _json(page.as_json())


async def list_sent(request: web.Request) -> web.Response:
    """The outgoing register in số đi order, a page at a time, with each recipient's state."""
    unit = _unit(request)
    after, since, limit = _paging(request, "out")
    async with request.app[CONNECTOR].pool.acquire() as conn:
        page = await listing.page(conn, unit, after, since=since, limit=limit)
    return _json(page.as_json())


async def get_incoming(request: web.Request) -> web.Response:
    unit = _unit(request)
    message_id = _message_id(request)
    async with request.app[CONNECTOR].pool.acquire() as conn:
        entry = await registers.incoming_entry(conn, unit, message_id)
    if entry is None:
        raise Rejected(ReasonCode.NOT_FOUND, f"{unit} has no incoming document {message_id}")
    # What the OpenAPI promises, named: columns the register gains stay out until described.
    return _json(
        {
            **{name: entry[name] for name in listing.INCOMING},
            "edxml": entry["edxml"],
            "attachments": [{k: a[k] for k in _ATTACHMENT} for a in entry["attachments"]],
        }
    )


async def post_status(request: web.Request) -> web.Response:
    unit = _unit(request)
    message_id = _message_id(request)
    body = await _body(request)
    _only(body, {"code", "reason"}, "the body")
    code = _field(body, "code", str, "the body") or ""
    reason = _field(body, "reason", str, "the body")
    status = await request.app[CONNECTOR].post_status(unit, message_id, code, reason)
    return _json({"status_id": status.message_id, "code": status.status_code}, 201)


async def delivery_state(request: web.Request) -> web.Response:
    unit = _unit(request)
    message_id = _message_id(request)
    async with request.app[CONNECTOR].pool.acquire() as conn:
        entry = await registers.outgoing_entry(conn, unit, message_id)
        sent = await listing.sent(conn, unit, message_id) if entry is not None else None
    if entry is None or sent is None:
        raise Rejected(ReasonCode.NOT_FOUND, f"{unit} sent no document {message_id}")
    return _json(
        {
            **sent,
            "statuses": [{k: s[k] for k in _STATUS_ROW} for s in entry["statuses"]],
            "states": entry["states"],
        }
    )


async def follow_up(request: web.Request) -> web.Response:
    unit = _unit(request)
    message_id = _message_id(request)
    body = await _body(request)
    _only(body, {"reason", "fields"}, "the body")
    reason = _field(body, "reason", str, "the body") or ""
    fields = _field(body, "fields", dict, "the body")
    sent, number = await request.app[CONNECTOR].follow_up(
        unit,
        message_id,
        request.match_info["kind"],
        reason=reason,
        fields=_document_fields(fields, "fields") if fields is not None else None,
    )
    return _json(
        {"message_id": sent.message_id, "number": number, "kind": sent.kind,
         "document_id": sent.document_id},
        201,
    )  # fmt: skip


async def recall(request: web.Request) -> web.Response:
    unit = _unit(request)
    message_id = _message_id(request)
    body = await _body(request)
    _only(body, {"reason"}, "the body")
    reason = _field(body, "reason", str, "the body") or ""
    sent = await request.app[CONNECTOR].recall(unit, message_id, reason=reason)
    return _json({"status_ids": [s.message_id for s in sent], "code": "13"}, 201)


async def health(request: web.Request) -> web.Response:
    return _json({"units": request.app[CONNECTOR].units, "healthy": True})


async def openapi(request: web.Request) -> web.Response:
    return _json(OPENAPI)


def application(connector: Connector) -> web.Application:
    app = web.Application(
        middlewares=[api_metrics.observe, _errors, _perimeter],
        client_max_size=connector.settings.max_message_bytes,
    )
    app[CONNECTOR] = connector
    app.cleanup_ctx.append(api_metrics.sampling(connector))
    app.router.add_post("/units/{unit}/documents", send_document)
    app.router.add_get("/units/{unit}/documents/{message_id}", delivery_state)
    app.router.add_post(
        "/units/{unit}/documents/{message_id}/{kind:revoke|update|replace}", follow_up
    )
    app.router.add_post("/units/{unit}/documents/{message_id}/recall", recall)
    app.router.add_get("/units/{unit}/sent", list_sent)
    app.router.add_get("/units/{unit}/inbox", list_inbox)
    app.router.add_get("/units/{unit}/inbox/{message_id}", get_incoming)
    app.router.add_get("/units/{unit}/inbox/{message_id}/attachments/{position}", get_attachment)
    app.router.add_post("/units/{unit}/attachments", upload_attachment)
    app.router.add_post("/units/{unit}/inbox/{message_id}/status", post_status)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    vxp.mount(app, connector)
    return app


OPENAPI: dict[str, Any] = yaml.safe_load(
    Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8")
)


MAX_HEADER = 64 * 1024
MAX_HEADERS = 512
"""Each signed parameter also travels as a header of its own (`XroadVnpt-k`)."""


@contextlib.asynccontextmanager
async def serving(connector: Connector, host: str, port: int) -> AsyncIterator[int]:
    """Serve the API while the block runs; yields the port (useful with port 0)."""
    # The axis protocol signs its parameters into one header (XroadVnpt-sign-header), which
    # grows with a send's recipients and the stale parameters SDKs carry: past aiohttp's
    # 8 KiB and 128-header defaults it would get a plain-text 400, not the protocol's answer.
    runner = web.AppRunner(
        application(connector),
        access_log=None,
        max_field_size=MAX_HEADER,
        max_line_size=MAX_HEADER,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
