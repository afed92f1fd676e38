"""The axis protocol served by the connector under /vxp, for systems that already speak it.

An agency's document system that talks to the national axis (VDXP) or a provincial LGSP
keeps working when its endpoint becomes `http://HOST:PORT/vxp`, with the system id and
secret `lienthong vxp credentials create` gave it. Documents it sends take the connector's
own path (`Connector.send`: numbered, signed, queued in the outbox in one transaction);
statuses it sends are `Connector.post_status` or `recall`; what it receives is the incoming
register, and the statuses it hears are what the connector heard.

The perimeter, in the order a request meets it (connectors.api runs the first two):
1. `Host` and `Origin`, as for the rest of the API.
2. The request's signature (`authenticate`) instead of a bearer token: 401
   `credentials_missing`, `system_unknown` or `request_signature_invalid`; then 400
   `parameter_unsigned` for a loose XroadVnpt- header the signature does not cover. No
   JSON-only rule: a foreign page cannot set XroadVnpt- headers without a CORS preflight,
   which is never granted, so a cross-site post is refused by the signature alone.
3. A system acts only for its units: 403 `unit_forbidden`.
Every answer, refusals and aiohttp's own 404/405/413 included, is the protocol's JSON
(`status`, `ErrorCode`, `ErrorDesc`, and `reason_code` naming the rule), in ASCII.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiohttp import hdrs, web

from connectors import http, registers
from connectors.service import Connector
from connectors.vxp import protocol, store, systems
from kernel import database
from kernel.errors import (
    AccessDenied,
    ConfigurationError,
    LienthongError,
    Rejected,
    ServiceFailed,
)
from kernel.reasons import ReasonCode
from schemas import edxml, statuses
from schemas.edxml import model
from schemas.envelope import status_id

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATES = frozenset({"done", "fail", "processing"})
LEASE = datetime.timedelta(seconds=30)
"""How long a send may take before another request for the same bytes takes it over."""
_MESSAGE_ID_MAX = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """A system whose signature held, and what it signed."""

    system: systems.System
    signed: protocol.SignedRequest

    def param(self, name: str, default: str = "") -> str:
        """A signed parameter, whatever the case of its name, stripped."""
        value = self.signed.param(name)
        return default if value is None else value.strip()


CALLER: web.RequestKey[Caller] = web.RequestKey("vxp_caller", Caller)
_KEYS: dict[str, systems.SealingKey] = {}


def serves(request: web.Request) -> bool:
    """Whether the request is the axis protocol's: a /vxp route, or a path under /vxp that
    matched nothing (so its 404 or 405 is in the protocol's shape too)."""
    resource = request.match_info.route.resource
    if resource is not None:
        return resource.canonical.startswith(protocol.PREFIX + "/")
    return request.path == protocol.PREFIX or request.path.startswith(protocol.PREFIX + "/")


def _key(connector: Connector, key_id: str) -> systems.SealingKey:
    """The sealing key, read once; read again if a row names another (it was replaced)."""
    path = systems.key_path(connector.settings)
    key = _KEYS.get(str(path))
    if key is None or key.id != key_id:
        key = _KEYS[str(path)] = systems.load_key(path)
    return key


async def authenticate(request: web.Request, connector: Connector) -> None:
    """Prove the calling system by its HMAC over the signed headers, or refuse."""
    signed = protocol.read_signed(request.raw_headers)
    with database.mapped_errors("checking the axis credentials"):
        async with connector.pool.acquire() as conn:
            sealed = await systems.live(conn, signed.system_id)
            if sealed is None:
                raise AccessDenied(
                    ReasonCode.SYSTEM_UNKNOWN,
                    f"no live system {signed.system_id!r} here (`lienthong vxp credentials`)",
                )
            protocol.verify(systems.unseal(_key(connector, sealed.key_id), sealed), signed)
            await systems.touch(conn, signed.system_id)
    protocol.check_only_signed(signed, request.raw_headers)
    request[CALLER] = Caller(sealed.system, signed)


def _refusal(
    reason: ReasonCode, message: str, status: int, *, service: bool = False
) -> web.Response:
    response = web.Response(
        text=protocol.dumps(protocol.failure(reason, message, service=service)),
        status=status,
        content_type="application/json",
    )
    if status == 401:
        response.headers[hdrs.WWW_AUTHENTICATE] = 'XroadVnpt-HMAC-SHA256 realm="lienthong"'
    return response


async def answering(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every outcome of a /vxp request in the protocol's shape; a bug is a logged 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return http.framework_refusal(request, exc, _refusal)
    except AccessDenied as exc:
        return _refusal(exc.reason, exc.message, protocol.HTTP_STATUS.get(exc.reason, 403))
    except Rejected as exc:
        return _refusal(exc.reason, exc.message, protocol.HTTP_STATUS.get(exc.reason, 400))
    except ConfigurationError as exc:  # the operator's to fix; paths stay in the log
        log.error("axis request failed on the configuration", error=exc.message, hint=exc.hint)
        message = "the connector cannot check this system's credentials; see its log"
        return _refusal(exc.reason, message, 503, service=True)
    except LienthongError as exc:
        return _refusal(exc.reason, exc.message, 503, service=True)
    except Exception:
        log.exception("axis api failed", method=request.method, path=request.path)
        return _refusal(
            ReasonCode.SERVICE_FAILED, "the connector failed; see its log", 500, service=True
        )


def _ok(**fields: Any) -> web.Response:
    return web.Response(
        text=protocol.dumps(protocol.success(**fields)), content_type="application/json"
    )


def _malformed(message: str) -> Rejected:
    return Rejected(ReasonCode.REQUEST_MALFORMED, message)


def _required(caller: Caller, name: str) -> str:
    value = caller.param(name)
    if not value:
        raise _malformed(f"this call needs the signed parameter {name!r}")
    return value


def _doc_id(caller: Caller) -> str:
    """`docId` (any case), as an id no stored message holds if it is not one."""
    value = _required(caller, "docId")
    if len(value) > _MESSAGE_ID_MAX or "\x00" in value:
        raise Rejected(ReasonCode.NOT_FOUND, "no such document")
    return value


def _unknown(doc_id: str) -> Rejected:
    return Rejected(ReasonCode.NOT_FOUND, f"no document or status {doc_id} for this system")


def _choice(caller: Caller, name: str, allowed: Sequence[str], default: str) -> str:
    value = caller.param(name, default).lower()
    if value not in allowed:
        raise _malformed(f"{name} must be {' or '.join(allowed)}, not {value!r}")
    return value


class Axis:
    """The operations of the protocol, each acting for the calling system's units."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def _units(self, caller: Caller) -> list[str]:
        """The caller's units this connector hosts."""
        return [u for u in caller.system.units if u in self.connector.units]

    def _sender(self, caller: Caller) -> str:
        """`from`: a unit the system is granted (or the system's own id when it has one)."""
        given = _required(caller, "from")
        units = caller.system.units
        if given == caller.system.id and len(units) == 1:
            given = units[0]
        if given not in units:
            raise AccessDenied(
                ReasonCode.UNIT_FORBIDDEN, f"system {caller.system.id} may not send from {given!r}"
            )
        if given not in self.connector.units:
            raise Rejected(ReasonCode.UNIT_UNKNOWN, f"this connector does not host {given}")
        return given

    # sendEdoc ---------------------------------------------------------------------------------

    async def send_edoc(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        unit = self._sender(caller)
        service = caller.param("servicetype", "eDoc")
        if service.lower() != "edoc":
            raise _malformed(f"servicetype must be eDoc, not {service!r}")
        kind = _choice(caller, "messagetype", ("edoc", "status"), "edoc")
        body = await request.read()
        protocol.check_not_multipart(request.headers.get(hdrs.CONTENT_TYPE), body)
        document = protocol.strip_crlf(body)
        if not document.strip():
            raise _malformed("the request body must be the edXML document")
        declared = caller.param("hash-file")
        if declared:
            protocol.check_hash_file(document, declared)
        packet = edxml.parse(document)
        if kind == "status":
            if not isinstance(packet, edxml.StatusPacket):
                raise _malformed("messagetype is status, but the body is a document packet")
            doc_id = await self._status(caller, unit, packet)
        else:
            if not isinstance(packet, edxml.DocumentPacket):
                raise _malformed("messagetype is edoc, but the body is a status packet")
            given = caller.param("to")
            to = list(dict.fromkeys(protocol.recipients(given) if given else _addressed(packet)))
            doc_id = await self._send_once(caller, unit, document, to)
        log.info("axis send", system=caller.system.id, unit=unit, kind=kind, doc_id=doc_id)
        return _ok(DocId=doc_id)

    async def _send_once(
        self, caller: Caller, unit: str, document: bytes, to: Sequence[str]
    ) -> str:
        """The same bytes from the same unit to the same recipients (in any order) are one
        document (a bridge sends one document to each remote recipient alone). A request
        claims them in the database for a lease, which reserves the document's message id,
        and sends under it; one arriving meanwhile waits for that send's DocId; one finding a
        lapsed claim (its sender crashed) takes it over, and answers the document the lapsed
        send registered under the reserved id, or sends it under that id. No database
        connection is held while the connector sends."""
        digest = claim_key(document, to)
        deadline = time.monotonic() + LEASE.total_seconds() + 5
        while True:
            async with self.connector.pool.acquire() as conn:
                claim = await store.claim(conn, unit, digest, caller.system.id, LEASE)
                if claim.message_id is not None:
                    return claim.message_id
                if claim.reserved is not None:
                    if claim.taken_over and await store.registered(conn, unit, claim.reserved):
                        await store.complete(conn, unit, digest, claim.reserved)
                        return claim.reserved
                    break
            if time.monotonic() > deadline:
                raise ServiceFailed(f"the same document from {unit} is being sent; try again")
            await asyncio.sleep(0.2)
        try:
            sent, _ = await self.connector.send(unit, document, to, message_id=claim.reserved)
        except BaseException:
            async with self.connector.pool.acquire() as conn:
                await asyncio.shield(store.release(conn, unit, digest))
            raise
        async with self.connector.pool.acquire() as conn:
            await store.complete(conn, unit, digest, sent.message_id)
        return sent.message_id

    async def _status(self, caller: Caller, unit: str, packet: edxml.StatusPacket) -> str:
        """A status packet becomes the connector's status about the document it names: a
        recall request (13) about one `unit` sent, any other code about one it received. The
        status id is fixed by what it answers, so a packet sent again is that status again."""
        author = packet.from_.organ_id
        if author is not None and author != unit:
            raise Rejected(
                ReasonCode.EDXML_SENDER_MISMATCH,
                f"the status packet is from {author}, the request from {unit}",
            )
        document_id = packet.document_id
        if document_id is None:
            raise Rejected(
                ReasonCode.EDXML_INVALID_VALUE, "the status packet names no ResponseFor/DocumentId"
            )
        code = packet.status_code.value
        reason = (packet.description or "").strip()
        if code == model.StatusCode.RECALL_REQUESTED:
            return await self._recall(unit, document_id, reason)
        about_sender = next((r.organ_id for r in packet.response_for if r.organ_id), None)
        async with self.connector.pool.acquire() as conn:
            message_id = await store.latest_received(conn, unit, document_id, about_sender)
            if message_id is None:
                raise Rejected(
                    ReasonCode.STATUS_UNKNOWN_MESSAGE, f"{unit} received no document {document_id}"
                )
            known = status_id(message_id, unit, code)
            # 01 is the connector's own, sent when it registered the document.
            if code == model.StatusCode.ARRIVED or await registers.published(conn, unit, known):
                return known
        status = await self.connector.post_status(unit, message_id, code, reason or None)
        return status.message_id

    async def _recall(self, unit: str, document_id: str, reason: str) -> str:
        """A recall request (13) about the latest document `unit` sent under that id; its
        answer is the request to the first recipient (one goes to each)."""
        async with self.connector.pool.acquire() as conn:
            sent = await store.latest_sent(conn, unit, document_id)
            if sent is None:
                raise Rejected(
                    ReasonCode.STATUS_UNKNOWN_MESSAGE, f"{unit} sent no document {document_id}"
                )
            first = status_id(sent["message_id"], unit, "13", to=sent["recipients"][0])
            if await registers.published(conn, unit, first):
                return first
        requests = await self.connector.recall(unit, sent["message_id"], reason=reason)
        return requests[0].message_id

    # Receiving ------------------------------------------------------------------------------

    async def received_list(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        kind = _choice(caller, "messagetype", ("edoc", "status"), "edoc")
        units = self._units(caller)
        async with self.connector.pool.acquire() as conn:
            if kind == "status":
                data = [_status_entry(row) for row in await store.pending_statuses(conn, units)]
            else:
                rows = await store.pending_documents(conn, units)
                await store.mark_listed(conn, rows, system_id=caller.system.id)
                data = [_document_entry(row) for row in rows]
        return _ok(data=data)

    async def get_edoc(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        doc_id = _doc_id(caller)
        units = self._units(caller)
        async with self.connector.pool.acquire() as conn:
            holders = await store.received_by(conn, units, doc_id)
            if holders:
                entry = await registers.incoming_entry(conn, holders[0], doc_id)
                assert entry is not None  # just listed, and entries are never deleted
                document = with_attachments(bytes(entry["edxml"]), entry["attachments"])
                return _ok(data=base64.b64encode(document).decode("ascii"))
            heard = await store.heard(conn, units, doc_id)
        if not heard:
            raise _unknown(doc_id)
        return _ok(data=base64.b64encode(_status_packet(heard[0])).decode("ascii"))

    async def update_status(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        doc_id = _doc_id(caller)
        state = _choice(caller, "status", tuple(sorted(STATES)), "")
        units = self._units(caller)
        async with self.connector.pool.acquire() as conn, conn.transaction():
            holders, kind = await store.received_by(conn, units, doc_id), "edoc"
            # The units it was listed for: a copy that arrived since is not acknowledged.
            holders = await store.shown(conn, holders, doc_id) or holders
            if not holders:
                heard = await store.heard(conn, units, doc_id)
                holders, kind = [row["unit"] for row in heard], "status"
            if not holders:
                raise _unknown(doc_id)
            await store.acknowledge(
                conn, holders, doc_id, kind=kind, state=state, system_id=caller.system.id
            )
        return _ok()

    async def sent_list(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        doc_id = caller.param("docId") or None
        if doc_id is not None and (len(doc_id) > _MESSAGE_ID_MAX or "\x00" in doc_id):
            return _ok(data=[])
        async with self.connector.pool.acquire() as conn:
            documents, heard = await store.sent_documents(conn, self._units(caller), doc_id)
        router = self.connector.settings.router_id
        return _ok(data=[e for d in documents for e in _sent_entries(d, heard, router)])

    async def count_documents(self, request: web.Request) -> web.Response:
        async with self.connector.pool.acquire() as conn:
            count = await store.count_documents(conn, self._units(request[CALLER]))
        return _ok(count=count)

    async def count_statuses(self, request: web.Request) -> web.Response:
        async with self.connector.pool.acquire() as conn:
            count = await store.count_statuses(conn, self._units(request[CALLER]))
        return _ok(count=count)

    async def agencies(self, request: web.Request) -> web.Response:
        async with self.connector.pool.acquire() as conn:
            units = await store.directory(conn)
        data = [
            {"id": u["organ_id"], "code": u["organ_id"], "name": u["name"], "mail": "",
             "pid": u["parent"] or "", "oldCode": u["old_codes"] or ""}
            for u in units
        ]  # fmt: skip
        return _ok(data=data)


def claim_key(document: bytes, to: Sequence[str]) -> bytes:
    """What makes a send the same send: its bytes and its recipients, as a set."""
    return hashlib.sha256(document + b"\x00to:" + ",".join(sorted(set(to))).encode()).digest()


def _addressed(packet: edxml.DocumentPacket) -> list[str]:
    """The recipients the edXML names, when the request gives no `to`."""
    to = list(dict.fromkeys(o.organ_id for o in packet.to if o.organ_id))
    if not to:
        raise Rejected(
            ReasonCode.ORGANID_INVALID, "give `to`, or name the recipients in the edXML's To list"
        )
    return to


def _document_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    said = row["state"] not in (None, "listed")  # listed: shown, no word from the system yet
    return {
        "docId": row["message_id"],
        "serviceType": "eDoc",
        "messageType": "edoc",
        "from": row["sender"],
        "to": row["unit"],
        "status": row["state"] if said else "pending",
        "status_desc": row["subject"] or "",
        "created_time": protocol.stamp(row["sent_at"]),
        "updated_time": protocol.stamp(row["updated_at"] if said else row["received_at"]),
    }


def _status_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "docId": row["status_message_id"],
        "serviceType": "eDoc",
        "messageType": "status",
        "from": row["recipient"],
        "to": row["unit"],
        "status": row["status_code"],
        "status_desc": row["description"] or "",
        "created_time": protocol.stamp(row["at"]),
        "updated_time": protocol.stamp(row["updated_at"] or row["at"]),
    }


def _notation(document_id: str | None) -> str:
    """The code and notation of a document id (`ORGAN,yyyy/MM/dd,number/notation`)."""
    parts = (document_id or "").split(",", 2)
    return parts[2] if len(parts) == 3 else ""


def _sent_entries(
    document: Mapping[str, Any], heard: Sequence[Mapping[str, Any]], router: str
) -> list[dict[str, Any]]:
    """One entry per recipient (and per successor a merged one was redirected to, which
    answers in its own name): whether it got there and what it said."""
    mine = [s for s in heard if s["message_id"] == document["message_id"]]
    refused = next((s for s in mine if s["recipient"] == router and s["status_code"] == "02"), None)
    recipients = list(document["recipients"])
    for status in mine:
        if status["status_code"] == "01" and status["recipient"] not in recipients:
            recipients.append(status["recipient"])
    entries = []
    for recipient in recipients:
        said = [s for s in mine if s["recipient"] == recipient]
        state = statuses.state_of(s["status_code"] for s in said)
        last = next((s for s in reversed(said) if s["status_code"] == state), None)
        arrived = next((s for s in said if s["status_code"] == "01"), None)
        if state != statuses.ROUTED:
            send, send_desc = "done", "delivered"
        elif refused is not None:
            send, send_desc = "fail", refused["description"] or ""
        else:
            send, send_desc = "processing", "on its way"
        entries.append({
            "serviceType": "eDoc",
            "messageType": "edoc",
            "senderDocId": document["message_id"],
            "receiverDocId": document["message_id"],
            "fromCode": document["unit"],
            "toCode": recipient,
            "sendStatus": send,
            "sendStatusDesc": send_desc,
            "receiveStatus": state if state != statuses.ROUTED else "",
            "receiveStatusDesc": (last["description"] or "") if last is not None else "",
            "title": document["subject"] or "",
            "notation": _notation(document["document_id"]),
            "sentTime": protocol.stamp(document["created_at"]),
            "receivedTime": protocol.stamp(arrived["at"] if arrived is not None else None),
        })  # fmt: skip
    return entries


def _status_packet(row: Mapping[str, Any]) -> bytes:
    """A heard status as the edXML status packet its sender would have written: the
    connector keeps what was said (code, description, time), not the packet."""
    at: datetime.datetime = row["at"]
    packet = model.StatusPacket(
        from_=model.Organization(organ_id=row["recipient"]),
        response_for=(model.ResponseFor(organ_id=row["unit"], document_id=row["document_id"]),),
        status_code=model.StatusCode(row["status_code"]),
        description=row["description"],
        timestamp=at.astimezone(protocol.VIETNAM).replace(tzinfo=None),
    )
    return edxml.write(packet)


def with_attachments(document: bytes, attachments: Sequence[Mapping[str, Any]]) -> bytes:
    """The edXML as received; files that came beside it (the connector's JSON API carries
    them so) are embedded, as the protocol has nowhere else to put them. One carried by
    reference is refused rather than embedded empty."""
    if not attachments:
        return document
    by_reference = [a["name"] for a in attachments if a["content"] is None]
    if by_reference:
        raise Rejected(
            ReasonCode.ATTACHMENT_BY_REFERENCE,
            f"{', '.join(by_reference)} travel by reference (too large to embed); the axis "
            "protocol can only carry attachments inside the edXML",
        )
    packet = edxml.parse(document)
    added = [
        model.Attachment(
            content_id=f"cid:lienthong-{index}",
            attachment_name=a["name"],
            content_type=a["media_type"],
            content=bytes(a["content"]) if a["content"] is not None else None,
        )
        for index, a in enumerate(attachments, start=1)
    ]
    references = [
        model.ManifestReference(
            content_id=a.content_id, content_type=a.content_type, attachment_name=a.attachment_name
        )
        for a in added
    ]
    return edxml.write(
        dataclasses.replace(
            packet,
            attachments=(*packet.attachments, *added),
            manifest=(*packet.manifest, *references),
            manifest_version=packet.manifest_version or "1.0",
        )
    )


def mount(app: web.Application, connector: Connector) -> None:
    """The protocol's operations under /vxp on the connector's API."""
    axis = Axis(connector)
    prefix = protocol.PREFIX
    app.router.add_post(f"{prefix}/sendEdoc", axis.send_edoc)
    app.router.add_post(f"{prefix}/getReceivedEdocList", axis.received_list)
    app.router.add_post(f"{prefix}/getEdoc", axis.get_edoc)
    app.router.add_post(f"{prefix}/updateStatus", axis.update_status)
    app.router.add_post(f"{prefix}/getSentEdocList", axis.sent_list)
    for name, handler in (
        ("countReceiveEdoc", axis.count_documents),
        ("countReceiveStatus", axis.count_statuses),
    ):
        app.router.add_get(f"{prefix}/{name}", handler, allow_head=False)
        app.router.add_post(f"{prefix}/{name}", handler)
    app.router.add_post(f"{prefix}/getAgenciesList", axis.agencies)
