"""The bridge: a lienthong exchange speaking the axis protocol, as a client, to the national
axis (VDXP), an LGSP, or another lienthong's connector (/vxp) (`lienthong vxp bridge run`).

The directory names the units reached through the bridge's gateway (`gateway: NAME`); for
the router they are units like any other, and it routes to their topics unchanged. The
bridge is the gateway's process, as the gateway's Kafka principal and database role:

Out (this exchange -> the endpoint). It consumes the topics of the units behind its
gateway and checks each record as a receiving connector would (the router's endorsement,
the sender's signature and chain as of the router's receive time, the binding of the
edXML), then `sendEdoc`s it: a document from its sender to the remote unit the sender
addressed (the edXML as signed; files carried beside it embedded), a status as the status
packet its sender's words make, a refusal by this router of a document that came in as a
02 from the refused recipient. Offsets are committed after `gateway_outbound` has the
endpoint's DocId; a restart between the two sends the same bytes again, which the
protocol's servers take as a retry (lienthong's answers with the same DocId). A request the
endpoint refuses for good, or a record that fails the bridge's own check while the router's
endorsement of it holds, is recorded, and a refused document is answered here with a 02
from the remote unit naming the reason code, so its sender hears why.

In (the endpoint -> this exchange). It polls `getReceivedEdocList` for documents and
statuses, fetches each (`getEdoc`), and makes of it an envelope signed with the gateway's
certificate, which names the units behind the gateway and only them (so nothing it submits
can speak for a unit of this exchange): a document from its remote sender to the addressed
units of this exchange, a status about the document here that it answers. The edXML's own
XML-DSig signature, when there is one, is checked and its verdict recorded
(`signing.xmldsig`). The entry, its verdict and its envelopes are written in one
transaction (`gateway_inbound`, `gateway_outbox`), published from there, and only then
acknowledged (`updateStatus done`). An entry is taken per unit it is listed for, so a unit
listed in a later poll than another gets the document too. A crash anywhere repeats a
step, never a document: an entry already taken is not taken again, an envelope is published
as it was queued (the router drops a second copy by its message id), and an
acknowledgement is a state; one the endpoint refuses is kept, not taken as done. A refusal
a later poll may not repeat (the endpoint's FAIL to getEdoc, a status about a document
whose carrying is not noted yet) is left on the list for a while before it is recorded.

The trust store is read again when its folder changes, as the router does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from broker.directory import Directory, store
from broker.directory.model import ORGAN_ID
from connectors import packing
from connectors.peer import TrustWatch, endorsed_body, refuse_local_names
from connectors.service import check_addressed
from connectors.vxp import bridge_store, protocol
from connectors.vxp.bridge_store import Queued, Taken
from connectors.vxp.client import AxisClient
from connectors.vxp.server import with_attachments
from kernel import consuming, database, kafka, metrics
from kernel.errors import ConfigurationError, LienthongError, Rejected
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.service import Service, stop_event
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import binding, codec, edxml
from schemas.edxml import model
from schemas.envelope import (
    Endorsement,
    EnvelopeBody,
    StatusBody,
    TraceEntry,
    decode_signed,
    notice_id,
    status_id,
)
from signing import endorsement, xmldsig
from signing.envelope import verify
from signing.identity import Identity

log = structlog.get_logger(__name__)
POLL_SECONDS = 2.0
DEFER_SECONDS = 600.0
"""How long an entry whose refusal a later poll may not repeat is left on the endpoint's
list (see `Bridge._defer`)."""
MAX_BACKOFF = 30.0
MAX_DESCRIPTION = 2000
_NAMESPACE = uuid.UUID("3c1f0a52-6d2e-4b8a-9f3e-5a7c2d1e0b94")


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """A record of a remote unit's topic whose endorsement, signature and binding held."""

    unit: str
    endorsed: Endorsement
    body: EnvelopeBody | StatusBody


def message_id(gateway: str, remote_id: str, listed_for: Iterable[str]) -> str:
    """The id a document taken from the endpoint carries here: the same for the same entry
    and units (a taken entry is never taken twice; this makes sure of it), another for the
    units it is listed for in a later poll, of the random-UUID form documents' ids have."""
    units = ",".join(sorted(set(listed_for)))
    digest = hashlib.sha256(f"{_NAMESPACE}|{gateway}|{remote_id}|{units}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class Bridge(Service):
    def __init__(
        self,
        settings: Settings,
        gateway: str,
        client: AxisClient,
        *,
        kafka_config: ClientConfig,
        dsn: str,
        poll_seconds: float = POLL_SECONDS,
        defer_seconds: float = DEFER_SECONDS,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.gateway = gateway
        self.client = client
        self.kafka_config = kafka_config
        self.dsn = dsn
        self.poll_seconds = poll_seconds
        self.defer_seconds = defer_seconds
        self._deferred: dict[tuple[str, str], float] = {}
        self.topics = Topics(settings.topic_prefix, settings.max_message_bytes)
        self.registry = codec.Registry.load()
        self._publish_lock = asyncio.Lock()
        self.log = log.bind(gateway=gateway, endpoint=client.endpoint)

    async def start(self) -> None:
        self.trusted = TrustWatch(self.settings.trust_store_dir)
        self.trust = self.trusted.current()
        self.pool: asyncpg.Pool = await self._stack.enter_async_context(
            database.pool(self.dsn, schema=self.settings.database_schema, max_size=4)
        )
        await self._reload()
        self.remote = self.directory.behind(self.gateway)
        if not self.remote:
            raise ConfigurationError(
                f"no unit of the directory is reached through gateway {self.gateway}",
                hint="give the remote units `gateway: NAME` in the directory file and load it",
            )
        folder = self.settings.keys_dir / "gateways" / self.gateway
        refuse_local_names(self.directory, Identity.speaking_for(folder), folder)
        self.identities = Identity.speaking_for(folder, self.remote)
        unnamed = [u for u in self.remote if u not in self.identities]
        if unnamed:
            self.log.warning(
                "the gateway's certificate does not name these units: what comes from them "
                "is refused", units=unnamed, certificate=str(folder / "cert.pem"),
            )  # fmt: skip
        await self._stack.enter_async_context(self.client)
        limit = self.settings.max_message_bytes + 1024 * 1024
        config = self.kafka_config.aiokafka()
        self.producer = AIOKafkaProducer(
            **config, acks="all", enable_idempotence=True, max_request_size=limit, linger_ms=2
        )
        self.consumer = AIOKafkaConsumer(
            *(self.topics.unit(u) for u in self.remote), **config,
            group_id=self.topics.gateway_group(self.gateway), enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=limit,
        )  # fmt: skip
        self._stack.push_async_callback(self.producer.stop)
        self._stack.push_async_callback(self.consumer.stop)
        with kafka.mapped_errors("the bridge cannot reach Kafka"):
            await kafka.check_access(self.kafka_config)
            await self.producer.start()
            await self.consumer.start()
        await self.publish_pending()
        self.log.info("bridge started", units=self.remote)

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
        """Carry both ways until `stop` (or SIGTERM/SIGINT): what is in hand is finished."""
        stop = stop_event(stop, handle_signals=handle_signals)
        async with asyncio.TaskGroup() as group:
            group.create_task(
                consuming.consume(
                    self.consumer, self._carry_batch, stop, name=f"bridge {self.gateway}"
                )
            )
            group.create_task(self._poll_loop(stop))

    # In: the endpoint -> this exchange -------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        wait = self.poll_seconds
        while not stop.is_set():
            try:
                await self.poll_once()
                wait = self.poll_seconds
            except (LienthongError, asyncpg.PostgresError, OSError) as exc:
                if not consuming.transient(exc):
                    raise
                self.log.warning("polling failed; trying again", error=str(exc), in_seconds=wait)
                wait = min(wait * 2, MAX_BACKOFF)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def poll_once(self) -> int:
        """Take what the endpoint lists for this system, publish it, acknowledge it; how
        many entries were taken."""
        await self._reload()
        self.trust = self.trusted.current()
        count = 0
        for kind in ("edoc", "status"):
            grouped: dict[str, list[dict[str, Any]]] = {}
            for entry in await self.client.received(kind):
                remote_id = str(entry.get("docId") or "")
                if remote_id and _printable(remote_id) != remote_id:
                    # Neither the database nor an HTTP header carries it: never taken.
                    metrics.GATEWAY_REFUSED.labels(
                        self.gateway, "in", ReasonCode.REQUEST_MALFORMED.value
                    ).inc()
                    self.log.warning(
                        "an entry with a control character in its docId; ignored",
                        kind=kind, remote_id=repr(remote_id)[:200],
                        reason_code=ReasonCode.REQUEST_MALFORMED.value,
                    )  # fmt: skip
                elif remote_id:
                    entry["to"] = _printable(str(entry.get("to") or ""))
                    grouped.setdefault(remote_id, []).append(entry)
            async with self.pool.acquire() as conn:
                known = await bridge_store.taken(conn, self.gateway, kind, list(grouped))
            for remote_id, listed in grouped.items():
                entries = [e for e in listed if (remote_id, e["to"]) not in known]
                if not entries:
                    continue
                taken = await self._take(kind, remote_id, entries)
                if self._defer(taken):
                    continue
                listed_for = [e["to"] for e in entries]
                async with self.pool.acquire() as conn:
                    new = await bridge_store.take(conn, self.gateway, taken, listed_for)
                if new:
                    count += 1
                    self._report_taken(taken)
        await self.publish_pending()
        await self.acknowledge()
        return count

    def _defer(self, taken: Taken) -> bool:
        """Whether to leave a refused entry on the endpoint's list for now, neither recorded
        nor acknowledged: a refusal a later poll may not repeat. The endpoint's own answer
        to getEdoc (a server busy or restarting may answer FAIL), or a status about a
        document whose carrying is not recorded yet (sendEdoc answered, and the database
        went away before the bridge noted it). After `defer_seconds` it is refused."""
        key = (taken.kind, taken.remote_id)
        if taken.refused_reason not in _MAY_PASS_LATER:
            self._deferred.pop(key, None)
            return False
        now = time.monotonic()
        first = self._deferred.setdefault(key, now)
        if now - first >= self.defer_seconds:
            del self._deferred[key]
            return False
        self.log.info(
            "an entry left for a later poll", kind=taken.kind, remote_id=taken.remote_id,
            reason_code=taken.refused_reason, reason=taken.refused_detail,
        )  # fmt: skip
        return True

    def _report_taken(self, taken: Taken) -> None:
        if taken.refused_reason is not None:
            metrics.GATEWAY_REFUSED.labels(self.gateway, "in", taken.refused_reason).inc()
            self.log.warning(
                "not taken from the endpoint", kind=taken.kind, remote_id=taken.remote_id,
                sender=taken.sender, reason_code=taken.refused_reason, reason=taken.refused_detail,
            )  # fmt: skip
            return
        metrics.GATEWAY_FORWARDED.labels(self.gateway, "in", taken.kind).inc()
        if taken.xmldsig is not None:
            metrics.GATEWAY_XMLDSIG.labels(self.gateway, taken.xmldsig).inc()
        self.log.info(
            "taken from the endpoint", kind=taken.kind, remote_id=taken.remote_id,
            message_id=taken.message_id, sender=taken.sender, xmldsig=taken.xmldsig,
        )  # fmt: skip

    async def _take(self, kind: str, remote_id: str, entries: list[dict[str, Any]]) -> Taken:
        """What an entry becomes: its envelopes, or the refusal to record (a rule it breaks
        is the entry's; the endpoint or the database away is not, and is raised)."""
        sender = _printable(str(entries[0].get("from") or "")) or None
        try:
            try:
                data = await self.client.get_edoc(remote_id)
            except Rejected as exc:
                detail = f"getEdoc refused ({exc.reason.value}): {exc.message}"
                raise Rejected(ReasonCode.ENDPOINT_REFUSED, detail) from exc
            if kind == "edoc":
                return self._document(remote_id, entries, data)
            return await self._status(remote_id, entries[0], data)
        except Rejected as exc:
            return Taken(
                kind, remote_id, sender=sender, refused_reason=exc.reason.value,
                refused_detail=exc.message[:MAX_DESCRIPTION],
            )  # fmt: skip
        except Exception as exc:
            # One crafted document must not stop the bridge: what it provoked is that
            # entry's internal error, recorded like a connector's quarantined record.
            consuming.contain(exc)
            told = consuming.internal_error(
                "bridge", exc, "internal error on an entry; refused", self.log, kind=kind,
                remote_id=remote_id,
            )  # fmt: skip
            return Taken(
                kind, remote_id, sender=sender, refused_reason=ReasonCode.INTERNAL_ERROR.value,
                refused_detail=told[:MAX_DESCRIPTION],
            )  # fmt: skip

    def _document(self, remote_id: str, entries: list[dict[str, Any]], data: bytes) -> Taken:
        packet = edxml.parse(data)
        if not isinstance(packet, edxml.DocumentPacket):
            raise Rejected(ReasonCode.KIND_MISMATCH, "listed as a document, but a status packet")
        listed = str(entries[0].get("from") or "")
        sender = packet.from_.organ_id or listed
        # Some gateways list their system id as `from`: only a unit code is compared.
        if ORGAN_ID.fullmatch(listed) and listed != sender:
            raise Rejected(
                ReasonCode.EDXML_SENDER_MISMATCH,
                f"the endpoint lists it from {listed}; the edXML says {sender}",
            )
        identity = self._speaking_for(sender)
        addressed = list(dict.fromkeys(str(e.get("to") or "") for e in entries))
        recipients = [u for u in addressed if self._local(u)]
        if not recipients:
            raise Rejected(
                ReasonCode.UNIT_UNKNOWN,
                f"addressed to {', '.join(addressed) or 'nobody'}: no unit of this exchange",
            )
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        body = dataclasses.replace(
            packing.build_body(data, sender=sender, recipients=recipients, now=now),
            message_id=message_id(self.gateway, remote_id, addressed),
            trace=(
                TraceEntry(
                    organ_id=sender, at=now, action="gateway",
                    note=f"{self.gateway}: {self.client.endpoint} docId {remote_id}"[:500],
                ),
            ),
        )  # fmt: skip
        signed = xmldsig.check(data, self.trust, at=now, sender=sender)
        if signed.verdict in ("invalid", "untrusted"):
            self.log.warning(
                "the edXML's XML signature does not hold", remote_id=remote_id, sender=sender,
                verdict=signed.verdict, detail=signed.detail,
            )  # fmt: skip
        lane = self.topics.lane(body.kind, body.priority)
        return Taken(
            "edoc", remote_id, message_id=body.message_id, sender=sender,
            recipients=tuple(recipients), document_id=body.document_id,
            xmldsig=signed.verdict, xmldsig_detail=signed.detail[:MAX_DESCRIPTION],
            queued=(self._seal(identity, body, lane),),
        )  # fmt: skip

    async def _status(self, remote_id: str, entry: Mapping[str, Any], data: bytes) -> Taken:
        """A status about a document here: from the remote unit that said it, or, when the
        endpoint itself said it (its router's refusal), from each remote recipient."""
        packet = edxml.parse(data)
        if not isinstance(packet, edxml.StatusPacket):
            raise Rejected(ReasonCode.KIND_MISMATCH, "listed as a status, but a document packet")
        code = str(packet.status_code)
        said_by = str(entry.get("from") or "") or packet.from_.organ_id or ""
        hearer = str(entry.get("to") or "")
        document_id = packet.document_id
        if not document_id or not hearer:
            raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "the status names no document or unit")
        description = (packet.description or str(entry.get("status_desc") or "")).strip()
        async with self.pool.acquire() as conn:
            if code == model.StatusCode.RECALL_REQUESTED:
                about = await bridge_store.received_document(
                    conn, self.gateway, said_by, document_id, hearer
                )
                authors = [said_by]
            else:
                sent = await bridge_store.sent_document(conn, self.gateway, hearer, document_id)
                about = sent[0]["message_id"] if sent else None
                carried_to = [row["recipient"] for row in sent]
                authors = [said_by] if said_by in carried_to else []
                if not authors and not self._remote(said_by) and code == "02":
                    authors = carried_to  # the endpoint's own refusal, for each recipient
                    description = f"{said_by or self.gateway}: {description}"
        if about is None:
            raise Rejected(
                ReasonCode.STATUS_UNKNOWN_MESSAGE,
                f"status {code} from {said_by} is about {document_id}, which {hearer} "
                "had no document carried under through this gateway",
            )
        if not authors:
            raise Rejected(
                ReasonCode.STATUS_NOT_ENTITLED,
                f"{said_by} did not receive {document_id} through this gateway",
            )
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        bodies = [
            StatusBody(
                message_id=status_id(about, author, code, to=hearer if code == "13" else None),
                responds_to=about, sender=author, recipient=hearer, status_code=code,
                created_at=now, document_id=document_id,
                description=description[:MAX_DESCRIPTION] or None,
            )
            for author in authors
        ]  # fmt: skip
        queued = tuple(
            self._seal(self._speaking_for(b.sender), b, self.topics.submit) for b in bodies
        )
        return Taken(
            "status", remote_id, message_id=bodies[0].message_id, sender=said_by or None,
            recipients=(hearer,), document_id=document_id, responds_to=about, status_code=code,
            queued=queued,
        )  # fmt: skip

    def _seal(self, identity: Identity, body: EnvelopeBody | StatusBody, topic: str) -> Queued:
        headers, value = identity.seal(self.registry, body)
        if len(value) > self.topics.max_envelope_bytes:
            raise Rejected(
                ReasonCode.ENVELOPE_TOO_LARGE,
                f"the envelope would be {len(value)} bytes; the exchange carries at most "
                f"{self.topics.max_envelope_bytes}",
            )
        return Queued(body.message_id, topic, body.sender.encode(), value, headers)

    def _speaking_for(self, unit: str) -> Identity:
        """The gateway's identity for a unit behind it; anything else it may not submit."""
        identity = self.identities.get(unit)
        if identity is None or not self._remote(unit):
            raise Rejected(
                ReasonCode.UNIT_FORBIDDEN,
                f"gateway {self.gateway} does not speak for {unit or 'an unnamed unit'}"
                + ("" if self._remote(unit) else " (not a unit behind it)"),
            )
        return identity

    def _remote(self, unit: str) -> bool:
        found = self.directory.units.get(unit)
        return found is not None and found.gateway == self.gateway

    def _local(self, unit: str) -> bool:
        found = self.directory.units.get(unit)
        return found is not None and found.gateway is None

    async def publish_pending(self) -> int:
        """Publish what `gateway_outbox` holds, oldest first (acks from every replica)."""
        sent = 0
        async with self._publish_lock, self.pool.acquire() as conn:
            while rows := await bridge_store.unpublished(conn, self.gateway):
                with kafka.mapped_errors("publishing the bridge's outbox failed"):
                    futures = [
                        await self.producer.send(
                            row["topic"],
                            row["value"],
                            key=row["key"],
                            headers=bridge_store.headers_of(row["headers"]),
                        )
                        for row in rows
                    ]
                    await asyncio.gather(*futures)
                await bridge_store.mark_published(
                    conn, self.gateway, [row["message_id"] for row in rows]
                )
                sent += len(rows)
        return sent

    async def acknowledge(self) -> int:
        """`updateStatus done` for every entry whose envelopes are all published."""
        async with self.pool.acquire() as conn:
            rows = await bridge_store.to_acknowledge(conn, self.gateway)
        for row in rows:
            refused = None
            try:
                await self.client.update_status(row["remote_id"], "done")
            except Rejected as exc:  # kept, not taken as done: the endpoint may list it still
                refused = f"{exc.reason.value}: {exc.message}"[:MAX_DESCRIPTION]
                metrics.GATEWAY_REFUSED.labels(self.gateway, "in", exc.reason.value).inc()
                self.log.warning(
                    "the endpoint refused the acknowledgement", remote_id=row["remote_id"],
                    reason_code=exc.reason.value, reason=exc.message,
                )  # fmt: skip
            async with self.pool.acquire() as conn:
                await bridge_store.mark_acknowledged(
                    conn, self.gateway, row["kind"], row["remote_id"], refused=refused
                )
        return len(rows)

    # Out: this exchange -> the endpoint ------------------------------------------------------

    async def _carry_batch(self, batch: consuming.Batch) -> None:
        self.trust = self.trusted.current()
        for records in batch.values():
            for record in records:
                await self._carry_isolated(record)
        if batch:
            await self.publish_pending()

    async def _carry_isolated(self, record: ConsumerRecord) -> None:
        """One record carried; whatever it provokes, short of the endpoint, Kafka or the
        database being away (raised: the batch is rewound), stays its own."""
        try:
            await self._carry(record)
        except Exception as exc:
            consuming.contain(exc)
            consuming.internal_error(
                "bridge", exc, "internal error on a record; not carried", self.log,
                topic=record.topic, partition=record.partition, offset=record.offset,
            )  # fmt: skip

    async def _carry(self, record: ConsumerRecord) -> None:
        unit = str(record.topic).removeprefix(self.topics.unit(""))
        try:
            outgoing = self._check(unit, record)
        except Rejected as exc:
            vouched = endorsed_body(
                record, unit, self.settings.router_id, self.trust, self.registry
            )
            if vouched is not None:  # recorded, and its sender told, as a refusal here
                endorsed, document = vouched
                refused = Outgoing(unit, endorsed, document)
                await self._refused_out(refused, document, exc, tell_sender=True)
                return
            metrics.GATEWAY_REFUSED.labels(self.gateway, "out", exc.reason.value).inc()
            self.log.warning(
                "a record of a remote unit's topic not carried, not endorsed for it", unit=unit,
                topic=record.topic, offset=record.offset, reason_code=exc.reason.value,
                reason=exc.message,
            )  # fmt: skip
            return
        body = outgoing.body
        async with self.pool.acquire() as conn:
            if await bridge_store.carried(conn, self.gateway, body.message_id, unit) is not None:
                return  # carried before a restart cut the commit short
        if isinstance(body, EnvelopeBody):
            await self._carry_document(outgoing, body)
        elif body.sender == self.settings.router_id:
            await self._carry_notice(outgoing, body)
        else:
            await self._carry_status(outgoing, body)

    def _check(self, unit: str, record: ConsumerRecord) -> Outgoing:
        """What a receiving connector checks: the router's endorsement for this unit, the
        sender's signature as of the router's receive time, the binding of the edXML."""
        headers = list(record.headers or ())
        value = record.value or b""
        endorsed = endorsement.check(
            headers, value, unit=unit, router_id=self.settings.router_id, trust=self.trust,
            registry=self.registry,
        )  # fmt: skip
        envelope = decode_signed(self.registry, codec.fingerprint_from(headers), value)
        judged_at = endorsed.received_at or endorsed.created_at
        body = verify(envelope, trust=self.trust, registry=self.registry, at=judged_at).body
        check_addressed(body, endorsed, unit)
        if body.sender != self.settings.router_id and body.edxml is not None:
            binding.check(body, edxml.parse(body.edxml))
        return Outgoing(unit, endorsed, body)

    async def _carry_document(self, outgoing: Outgoing, body: EnvelopeBody) -> None:
        """sendEdoc to the recipient the sender addressed (the unit itself, or the closed
        one the router redirected to it: the remote exchange redirects the same way)."""
        unit = outgoing.unit
        files = [
            {"name": a.name, "media_type": a.media_type, "content": a.content}
            for a in body.attachments
        ]
        to = outgoing.endorsed.requested
        try:
            document = with_attachments(body.edxml, files)
            remote_id = await self.client.send_edoc(body.sender, document, to=[to])
        except Rejected as exc:
            await self._refused_out(outgoing, body, exc, tell_sender=True)
            return
        async with self.pool.acquire() as conn:
            await bridge_store.record_carried(
                conn, self.gateway, message_id=body.message_id, recipient=unit, kind="edoc",
                sender=body.sender, document_id=body.document_id, remote_id=remote_id,
            )  # fmt: skip
        metrics.GATEWAY_FORWARDED.labels(self.gateway, "out", "edoc").inc()
        self.log.info("carried to the endpoint", kind=body.kind, message_id=body.message_id,
                      sender=body.sender, to=to, remote_id=remote_id)  # fmt: skip

    async def _carry_status(self, outgoing: Outgoing, body: StatusBody) -> None:
        """A status a unit here said about a document a remote unit sent (or its recall
        request, 13, about one it sent there), as the status packet its words make."""
        author = body.sender if body.status_code == "13" else body.recipient
        packet = body.edxml or _status_packet(
            body.sender, author, body.document_id, body.status_code, body.description,
            body.created_at,
        )  # fmt: skip
        try:
            if not body.document_id:
                raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "the status names no document id")
            remote_id = await self.client.send_edoc(body.sender, packet, kind="status")
        except Rejected as exc:
            await self._refused_out(outgoing, body, exc, tell_sender=False)
            return
        async with self.pool.acquire() as conn:
            await bridge_store.record_carried(
                conn, self.gateway, message_id=body.message_id, recipient=outgoing.unit,
                kind="status", sender=body.sender, document_id=body.document_id,
                responds_to=body.responds_to, status_code=body.status_code, remote_id=remote_id,
            )  # fmt: skip
        metrics.GATEWAY_FORWARDED.labels(self.gateway, "out", "status").inc()
        self.log.info("status carried to the endpoint", message_id=body.responds_to,
                      code=body.status_code, sender=body.sender, remote_id=remote_id)  # fmt: skip

    async def _carry_notice(self, outgoing: Outgoing, body: StatusBody) -> None:
        """This router refused a document that came in through the gateway: the remote
        sender hears a 02 from each refused recipient. Its other notices (a redirect, a
        refused status) have no word in the protocol, and are recorded only."""
        async with self.pool.acquire() as conn:
            taken = await bridge_store.inbound_document(conn, self.gateway, body.responds_to)
        refused: list[str] = []
        if body.status_code == "02" and taken is not None:
            everyone = body.message_id == notice_id(body.responds_to, "*", "02")
            refused = [
                r for r in taken["recipients"]
                if everyone or body.message_id == notice_id(body.responds_to, r, "02")
            ]  # fmt: skip
        if not refused:
            reason = body.reason_code or ReasonCode.UNIT_REDIRECTED.value
            async with self.pool.acquire() as conn:
                await bridge_store.record_carried(
                    conn, self.gateway, message_id=body.message_id, recipient=outgoing.unit,
                    kind="notice", sender=body.sender, document_id=body.document_id,
                    responds_to=body.responds_to, status_code=body.status_code,
                    refused=(reason, "a notice the axis protocol has no word for; kept here"),
                )  # fmt: skip
            self.log.info("a router notice not carried", message_id=body.responds_to,
                          code=body.status_code, reason_code=reason)  # fmt: skip
            return
        assert taken is not None
        remote_ids = []
        try:
            for recipient in refused:
                packet = _status_packet(
                    recipient, taken["sender"], taken["document_id"], "02", body.description,
                    body.created_at,
                )  # fmt: skip
                remote_ids.append(await self.client.send_edoc(recipient, packet, kind="status"))
        except Rejected as exc:
            await self._refused_out(outgoing, body, exc, tell_sender=False)
            return
        async with self.pool.acquire() as conn:
            await bridge_store.record_carried(
                conn, self.gateway, message_id=body.message_id, recipient=outgoing.unit,
                kind="notice", sender=body.sender, document_id=taken["document_id"],
                responds_to=body.responds_to, status_code="02", remote_id=",".join(remote_ids),
            )  # fmt: skip
        metrics.GATEWAY_FORWARDED.labels(self.gateway, "out", "status").inc()
        self.log.info("a refusal carried to the endpoint", message_id=body.responds_to,
                      recipients=refused)  # fmt: skip

    async def _refused_out(
        self,
        outgoing: Outgoing,
        body: EnvelopeBody | StatusBody,
        refusal: Rejected,
        *,
        tell_sender: bool,
    ) -> None:
        """The endpoint refused for good, or the record failed the bridge's own check:
        recorded, and a document's sender told by a 02 from the remote unit (signed as the
        gateway, which speaks for it) naming the reason code."""
        unit = outgoing.unit
        detail = refusal.message[:MAX_DESCRIPTION]
        queued: list[Queued] = []
        identity = self.identities.get(unit)
        if tell_sender and identity is not None:
            status = StatusBody(
                message_id=status_id(body.message_id, unit, "02"),
                responds_to=body.message_id, sender=unit, recipient=body.sender,
                status_code="02",
                created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
                document_id=body.document_id, reason_code=refusal.reason.value,
                description=refusal.reason.explain(detail)[:MAX_DESCRIPTION],
            )  # fmt: skip
            queued.append(self._seal(identity, status, self.topics.submit))
        async with self.pool.acquire() as conn, conn.transaction():
            await bridge_store.record_carried(
                conn, self.gateway, message_id=body.message_id, recipient=unit,
                kind="edoc" if isinstance(body, EnvelopeBody) else "status", sender=body.sender,
                document_id=body.document_id,
                responds_to=body.responds_to if isinstance(body, StatusBody) else None,
                status_code=body.status_code if isinstance(body, StatusBody) else None,
                refused=(refusal.reason.value, detail),
            )  # fmt: skip
            await bridge_store.queue(conn, self.gateway, queued)
        metrics.GATEWAY_REFUSED.labels(self.gateway, "out", refusal.reason.value).inc()
        self.log.warning(
            "not carried to the endpoint", message_id=body.message_id, unit=unit,
            sender=body.sender, reason_code=refusal.reason.value, reason=detail,
        )  # fmt: skip

    async def _reload(self) -> None:
        async with self.pool.acquire() as conn:
            self.directory: Directory = await store.fetch(conn)


_MAY_PASS_LATER = frozenset({
    ReasonCode.ENDPOINT_REFUSED.value, ReasonCode.STATUS_UNKNOWN_MESSAGE.value
})  # fmt: skip


def _printable(text: str) -> str:
    """`text` without control characters (NUL, CR, LF...) or lone surrogates: what the
    endpoint lists is stored and logged, and PostgreSQL refuses a NUL."""
    kept = "".join(c for c in text if c.isprintable() or c == " ")
    return kept.encode("utf-8", "ignore").decode("utf-8")


def _status_packet(
    author: str,
    about_sender: str,
    document_id: str | None,
    code: str,
    description: str | None,
    at: datetime.datetime,
) -> bytes:
    """The edXML status packet (QCVN 102:2016) `author` would write about a document."""
    packet = model.StatusPacket(
        from_=model.Organization(organ_id=author),
        response_for=(model.ResponseFor(organ_id=about_sender, document_id=document_id),),
        status_code=model.StatusCode(code),
        description=description,
        timestamp=at.astimezone(protocol.VIETNAM).replace(tzinfo=None),
    )
    return edxml.write(packet)


def read_secret(text: str) -> str:
    """A secret file's secret: the file as `vxp credentials create` printed it (JSON with a
    `secret`), or the secret alone."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            found = json.loads(stripped).get("secret")
        except (ValueError, AttributeError):
            found = None
        if not isinstance(found, str) or not found:
            raise ConfigurationError("the secret file is JSON without a `secret`")
        return found
    if not stripped:
        raise ConfigurationError("the secret file is empty")
    return stripped
