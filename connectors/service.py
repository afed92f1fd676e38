"""The connector: one process hosting one or more units, each with its key and certificate.

Outgoing: a document is numbered in the unit's outgoing register, signed, queued in the
outbox in the same transaction, then published to the submit topic (key = the unit).
Incoming: each unit's topic is consumed. A record is registered only if the router endorsed
its delivery to this unit (`signing.endorsement`), the unit is a recipient of it (or the
successor the router redirected it to), and the sender's own signature verifies end to end
(the router is not trusted blindly). Anything else is kept in `incoming_quarantine` with
its reason, never registered. A document is entered once in the incoming register with the
next số đến and answered with status 01; statuses about what the unit sent are recorded.
Offsets are committed only after the database has the result.

Each unit talks to Kafka as its own principal, so a connector hosting several units holds
one producer and one consumer per unit, each with that unit's credentials.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from broker.directory import Directory, Unit
from broker.policy import attachments as attachment_rules
from broker.policy.attachments import MAX_ATTACHMENTS
from connectors import packing, registers
from connectors.registers import Outgoing
from kernel import claims, consuming, database, kafka, metrics
from kernel.claims import Claims
from kernel.database import Connection
from kernel.errors import (
    ConfigurationError,
    DirectoryError,
    LienthongError,
    Rejected,
    Undeliverable,
)
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.service import Service, stop_event
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import binding, codec, edxml, statuses
from schemas.edxml.model import BusinessDocType, StatusCode
from schemas.envelope import (
    AttachmentRef,
    Endorsement,
    EnvelopeBody,
    StatusBody,
    decode_signed,
    status_id,
)
from signing import endorsement
from signing.certificates import TrustStore
from signing.envelope import verify
from signing.identity import Identity

log = structlog.get_logger(__name__)
FOLLOW_UPS = {
    "revoke": BusinessDocType.REVOKE,
    "update": BusinessDocType.UPDATE,
    "replace": BusinessDocType.REPLACE,
}
POSTABLE = {"02", "03", "04", "05", "06", "15", "16"}
"""What a receiver answers. A recall request (13) is the sender's to make, not a receiver's."""
PRIORITIES = range(5)
"""QCVN 102:2016's Priority: 0 thường, 1 khẩn, 2 thượng khẩn, 3 hỏa tốc, 4 hỏa tốc hẹn giờ."""
_ROUTES = (
    "WITH RECURSIVE chain AS ("
    " SELECT organ_id, name, level, valid_from, valid_to, successor, gateway FROM units"
    " WHERE organ_id = ANY($1::text[])"
    " UNION SELECT u.organ_id, u.name, u.level, u.valid_from, u.valid_to, u.successor, u.gateway"
    " FROM units u JOIN chain ON u.organ_id = chain.successor)"
    " SELECT * FROM chain"
)


class Connector(Service):
    def __init__(
        self,
        settings: Settings,
        units: Sequence[str],
        *,
        kafka_configs: Mapping[str, ClientConfig],
        dsn: str,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.units = list(dict.fromkeys(units))
        missing = [u for u in self.units if u not in kafka_configs]
        if missing:
            raise ConfigurationError(
                f"no Kafka client config for {', '.join(missing)}",
                reason=ReasonCode.KAFKA_CREDENTIALS_MISSING,
            )
        self.kafka_configs = dict(kafka_configs)
        self.dsn = dsn
        self.topics = Topics(settings.topic_prefix, settings.max_message_bytes)
        self.registry = codec.Registry.load()
        self._consumers: dict[str, AIOKafkaConsumer] = {}
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._publish_lock = asyncio.Lock()
        self.claims = Claims.from_settings(settings)

    async def start(self, *, consume: bool = True) -> None:
        """Open the database and producer; with `consume`, also each unit's topic."""
        self.identities = {
            unit: Identity.load(self.settings.keys_dir / "units" / unit, unit)
            for unit in self.units
        }
        self.trust = TrustStore.load(self.settings.trust_store_dir)
        await self.claims.sweep()
        self.pool: asyncpg.Pool = await self._stack.enter_async_context(
            database.pool(self.dsn, schema=self.settings.database_schema)
        )
        limit = self.settings.max_message_bytes + 1024 * 1024
        with kafka.mapped_errors("the connector cannot reach Kafka"):
            for unit in self.units:
                await kafka.check_access(self.kafka_configs[unit])
                config = self.kafka_configs[unit].aiokafka()
                producer = AIOKafkaProducer(
                    **config, acks="all", enable_idempotence=True, max_request_size=limit,
                    linger_ms=2,
                )  # fmt: skip
                self._stack.push_async_callback(producer.stop)
                await producer.start()
                self._producers[unit] = producer
                if consume:
                    consumer = AIOKafkaConsumer(
                        self.topics.unit(unit), **config,
                        group_id=self.topics.connector_group(unit), enable_auto_commit=False,
                        auto_offset_reset="earliest", max_partition_fetch_bytes=limit,
                    )  # fmt: skip
                    self._stack.push_async_callback(consumer.stop)
                    await consumer.start()
                    self._consumers[unit] = consumer
        await self.publish_pending()

    async def stop(self) -> None:
        await self._stack.aclose()

    def producer(self, unit: str) -> AIOKafkaProducer:
        """The producer that speaks to Kafka as `unit` (its own principal)."""
        self._identity(unit)
        return self._producers[unit]

    # Outgoing ------------------------------------------------------------------------------

    @metrics.counting_sends
    async def send(
        self,
        unit: str,
        edxml_bytes: bytes,
        recipients: Sequence[str],
        attachments: Sequence[AttachmentRef] = (),
        *,
        lane: str | None = None,
        message_id: str | None = None,
        check_first: bool = False,
    ) -> tuple[EnvelopeBody, int]:
        """Number, sign and send a document; return its body as sent (with the register's
        number written in when it had none: `packing.numbered`) and its number. It takes
        the urgent lane if marked urgent, unless it must follow another on its `lane`. A
        `message_id` fixed beforehand lets a resend be recognised (the /vxp claims do).
        With `check_first`, what the router would surely refuse is refused before a number
        is taken (`check_sendable`); without, the router judges it, as the router's own
        tests need."""
        identity = self._identity(unit)
        attachments = await self.by_reference(unit, attachments)
        body = packing.build_body(
            edxml_bytes, sender=unit, recipients=recipients, attachments=attachments
        )
        if message_id is not None:
            body = dataclasses.replace(body, message_id=message_id)
        if check_first:
            await self.check_sendable(body)
        lane = lane or self.topics.lane(body.kind, body.priority)
        seal = registers.sealer(
            identity, self.registry, lane,
            limit=self.topics.max_envelope_bytes, threshold=self.claims.threshold,
        )  # fmt: skip
        async with self.pool.acquire() as conn:
            body, number = await registers.register_numbered(
                conn, body, _subject(edxml_bytes), seal
            )
        await self._publish_soon()
        log.info("sent", message_id=body.message_id, unit=unit, number=number)
        return body, number

    async def check_sendable(self, body: EnvelopeBody) -> None:
        """The router's sure refusals, made before a number is taken, so a document refused
        never uses one: a priority out of QCVN 102's range, attachments of a type not
        carried, too many or too large (a PDF's inside is left to the router's workers), a
        sender or a recipient the directory cannot deliver for on this day. One bad
        recipient refuses the whole document, where the router would drop that one alone:
        the agency's system chose the list, and corrects it."""
        if body.priority not in PRIORITIES:
            raise Rejected(
                ReasonCode.EDXML_INVALID_VALUE,
                f"Priority {body.priority} is not one of 0 (thường), 1 (khẩn), 2 (thượng khẩn),"
                " 3 (hỏa tốc), 4 (hỏa tốc hẹn giờ)",
            )
        limits = attachment_rules.Limits(max_referenced_bytes=self.claims.max_bytes)
        attachment_rules.check(body.attachments, limits, pdfs=False)
        if body.edxml is not None:
            attachment_rules.check_embedded(edxml.parse(body.edxml).attachments, limits, pdfs=False)
        await self._check_addressed(body)

    async def _check_addressed(self, body: EnvelopeBody) -> None:
        """As the router's address stage: the sender open, each recipient open or closed
        with a successor to take its mail."""
        named = [body.sender, *dict.fromkeys(body.recipients)]
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_ROUTES, named)
        # The units named and their successors, which is all resolving reads.
        directory = Directory(Unit(**dict(row)) for row in rows)
        day = body.created_at.date()
        try:
            sender = directory.resolve(body.sender, day)
        except DirectoryError as exc:
            raise Undeliverable(exc.reason, f"the sender: {exc.message}") from None
        if sender.redirected:
            raise Undeliverable(
                ReasonCode.UNIT_CLOSED,
                f"the sender {body.sender} closed; {sender.unit.organ_id} sends in its own name",
            )
        refused: list[DirectoryError] = []
        for recipient in named[1:]:
            try:
                directory.resolve(recipient, day)
            except DirectoryError as exc:
                refused.append(exc)
        if refused:
            raise Undeliverable(
                refused[0].reason,
                "; ".join(exc.message for exc in refused) + "; nothing was sent or numbered",
            )

    async def by_reference(
        self, unit: str, attachments: Sequence[AttachmentRef]
    ) -> list[AttachmentRef]:
        """Attachments over the claim-check threshold are put in the store and carried by
        reference. A reference given must be to content this unit put there itself: a hash
        is no secret, and the store is everyone's. Absent and not this unit's get the same
        answer, so the store's content cannot be probed."""
        carried = []
        for attachment in attachments:
            content = attachment.content
            if content is not None and len(content) > self.claims.threshold:
                claim = await self.claims.store.put(_one(content), limit=self.claims.max_bytes)
                await self.record_upload(unit, claim.sha256, claim.size)
                attachment = dataclasses.replace(
                    attachment, content=None, reference=claim.reference
                )
            elif content is None:
                attachment = await self._uploaded(unit, attachment)
            carried.append(attachment)
        referenced = sum(a.size for a in carried if a.content is None)
        if referenced > self.claims.max_bytes or len(carried) > MAX_ATTACHMENTS:
            raise Rejected(
                ReasonCode.ATTACHMENT_TOO_LARGE,
                f"{len(carried)} attachments, {referenced} bytes by reference; the limits are "
                f"{MAX_ATTACHMENTS} and {self.claims.max_bytes}",
            )
        return carried

    async def record_upload(self, unit: str, sha256: str, size: int) -> None:
        async with self.pool.acquire() as conn:
            await registers.record_upload(conn, unit, sha256, size)

    async def _uploaded(self, unit: str, attachment: AttachmentRef) -> AttachmentRef:
        reference = attachment.reference or ""
        sha256 = claims.digest_of(reference)
        async with self.pool.acquire() as conn:
            size = await registers.uploaded_size(conn, unit, sha256)
        if size is None or await self.claims.store.size(reference) != size:
            raise Rejected(
                ReasonCode.ATTACHMENT_MISSING,
                f"{attachment.name}: {unit} stored nothing under {reference}; upload it first",
            )
        return dataclasses.replace(attachment, sha256=sha256, size=size)

    async def follow_up(
        self,
        unit: str,
        message_id: str,
        kind: str,
        *,
        reason: str,
        fields: Mapping[str, Any] | None = None,
        attachments: Sequence[AttachmentRef] = (),
    ) -> tuple[EnvelopeBody, int]:
        """Revoke, update or replace a document this unit sent, to the same recipients.

        The new packet carries the original's document id and the Bussiness type of the
        follow-up (1 revoke, 2 update, 3 replace); an update or replacement brings new fields.
        """
        business = FOLLOW_UPS.get(kind)
        if business is None:
            raise Rejected(
                ReasonCode.EDXML_INVALID_VALUE, f"{kind!r} is not revoke, update or replace"
            )
        if not reason.strip():
            raise Rejected(ReasonCode.EDXML_INVALID_VALUE, f"a {kind} needs a reason")
        async with self.pool.acquire() as conn:
            original = await registers.outgoing_entry(conn, unit, message_id)
            lane = await registers.lane_of(conn, unit, message_id)
        if original is None:
            raise Rejected(ReasonCode.UNIT_UNKNOWN, f"{unit} sent no document {message_id}")
        if business != BusinessDocType.REVOKE and not fields:
            raise Rejected(ReasonCode.EDXML_INVALID_VALUE, f"an {kind} brings new fields")
        given = dict(
            fields or {"subject": f"Thu hồi văn bản {original['document_id'] or message_id}"}
        )
        given.update(
            document_id=original["document_id"],
            business_doc_type=int(business),
            business_doc_reason=reason.strip(),
        )
        packet = packing.edxml_from_fields(unit, given, original["recipients"])
        # On its original's lane, so it never overtakes the document it follows up. An update
        # or replacement brings new content, checked before it takes a number; a revoke goes
        # to every recipient the original had, closed ones too, for the router to resolve.
        return await self.send(
            unit, packet, original["recipients"], attachments, lane=lane,
            check_first=business != BusinessDocType.REVOKE,
        )  # fmt: skip

    async def post_status(
        self, unit: str, message_id: str, code: str, reason: str | None = None
    ) -> StatusBody:
        """The agency's answer about a document it received: 02 (with a reason), 03 … 06."""
        if code not in POSTABLE:
            raise Rejected(
                ReasonCode.EDXML_INVALID_VALUE,
                f"status {code!r} cannot be posted; use one of {', '.join(sorted(POSTABLE))}",
            )
        if code == StatusCode.REJECTED and not reason:
            raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "a refusal (02) needs a reason")
        async with self.pool.acquire() as conn, conn.transaction():
            entry = await registers.incoming_entry(conn, unit, message_id, lock=True)
            if entry is None:
                raise Rejected(
                    ReasonCode.UNIT_UNKNOWN, f"{unit} has no incoming document {message_id}"
                )
            if code in ("15", "16") and entry["recall_requested_at"] is None:
                raise Rejected(
                    ReasonCode.STATUS_NOT_ENTITLED,
                    f"{code} answers a recall request; {entry['sender']} made none",
                )
            step = statuses.step(entry["status"], code)
            if step is statuses.Step.BACKWARDS:
                raise Rejected(
                    ReasonCode.STATUS_BACKWARDS,
                    f"{message_id} is at {entry['status']}; {code} would move it back",
                )
            status = self._status(
                unit, entry["sender"], message_id, entry["document_id"], code, reason
            )
            headers, value = self._identity(unit).seal(self.registry, status)
            outgoing = Outgoing(self.topics.submit, unit.encode(), value, headers)
            await registers.queue_status(
                conn, unit, status, outgoing, moves=step is statuses.Step.FORWARD
            )
        await self._publish_soon()
        return status

    async def recall(self, unit: str, message_id: str, *, reason: str) -> list[StatusBody]:
        """Ask each recipient of a document this unit sent to give it back (13); a recipient
        answers 15 or 16. Only the sender may ask (the router refuses anyone else)."""
        if not reason.strip():
            raise Rejected(ReasonCode.EDXML_INVALID_VALUE, "a recall request needs a reason")
        identity = self._identity(unit)
        async with self.pool.acquire() as conn:
            sent = await registers.outgoing_entry(conn, unit, message_id)
            # On the document's lane, so the request never overtakes what it recalls.
            lane = await registers.lane_of(conn, unit, message_id) or self.topics.submit
            if sent is None:
                raise Rejected(ReasonCode.UNIT_UNKNOWN, f"{unit} sent no document {message_id}")
            requests = [
                self._status(unit, r, message_id, sent["document_id"], "13", reason.strip())
                for r in sent["recipients"]
            ]
            async with conn.transaction():
                for request in requests:
                    headers, value = identity.seal(self.registry, request)
                    outgoing = Outgoing(lane, unit.encode(), value, headers)
                    await registers.queue_status(conn, unit, request, outgoing, moves=False)
        await self._publish_soon()
        return requests

    async def _publish_soon(self) -> None:
        """Publish now if Kafka answers; if not, the outbox keeps it for the consume loop."""
        try:
            await self.publish_pending()
        except LienthongError as exc:
            if not exc.retriable:
                raise
            log.warning("queued; Kafka is away, the outbox will send it", error=exc.message)

    def _status(
        self,
        unit: str,
        to: str,
        about: str,
        document_id: str | None,
        code: str,
        reason: str | None,
        reason_code: ReasonCode | None = None,
    ) -> StatusBody:
        return StatusBody(
            message_id=status_id(about, unit, code, to=to if code == "13" else None),
            responds_to=about,
            sender=unit,
            recipient=to,
            status_code=code,
            created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
            document_id=document_id,
            description=reason,
            reason_code=reason_code.value if reason_code else None,
        )

    async def publish_pending(self) -> int:
        """Send what the outbox holds, oldest first; safe to call from anywhere, any time."""
        sent = 0
        async with self._publish_lock, self.pool.acquire() as conn:
            while rows := await registers.pending(conn, self.units):
                with kafka.mapped_errors("publishing the outbox failed"):
                    futures = [
                        await self._producers[row["unit"]].send(
                            row["topic"],
                            row["value"],
                            key=row["key"],
                            headers=registers.headers_of(row["headers"]),
                        )
                        for row in rows
                    ]
                    await asyncio.gather(*futures)
                await registers.mark_sent(conn, [(row["unit"], row["message_id"]) for row in rows])
                sent += len(rows)
        return sent

    # Incoming ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
        stop = stop_event(stop, handle_signals=handle_signals)
        await asyncio.gather(*(self._consume(unit, stop) for unit in self._consumers))

    async def _consume(self, unit: str, stop: asyncio.Event) -> None:
        async def handle(batch: consuming.Batch) -> None:
            records = [r for rs in batch.values() for r in rs]
            if records:
                await self.receive_batch(unit, records)
            await self.publish_pending()

        await consuming.consume(self._consumers[unit], handle, stop, name=f"connector {unit}")

    async def receive_batch(self, unit: str, records: Sequence[ConsumerRecord]) -> list[str]:
        """Verify every record (signatures and bindings, no database), then act on all of
        them in one transaction: registrations with their numbers, 01 receipts queued in
        the outbox, statuses, quarantines. Each record's effects sit in a savepoint of their
        own, so one a database rule refuses, or a crafted record makes fail, is quarantined
        and the batch goes on; a transient Kafka or PostgreSQL failure rewinds it whole.
        What was registered or quarantined is logged and counted after the commit, so a
        rewound batch is not counted twice."""
        checked = [await self._fetched(self._check_isolated(unit, record)) for record in records]
        after: list[Callable[[], None]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            verdicts = [
                await self._apply_isolated(conn, unit, record, check, after)
                for record, check in zip(records, checked, strict=True)
            ]
        for report in after:
            report()
        return verdicts

    def _check_isolated(self, unit: str, record: ConsumerRecord) -> Checked | Refused:
        try:
            return self._check(unit, record)
        except Exception as exc:  # whatever a crafted record provokes
            consuming.contain(exc)
            if isinstance(exc, LienthongError):
                return Refused(None, exc)
            return Refused(None, self._internal_error(unit, record, exc))

    async def _fetched(self, checked: Checked | Refused) -> Checked | Refused:
        """Attachments carried by reference are streamed from the claim-check store through
        SHA-256 before anything is registered (each stored file once, however often the
        envelope names it): altered or missing content is refused (02) like an inline
        attachment that does not match. A store that does not answer is retriable: the
        batch waits for it."""
        if isinstance(checked, Refused) or not isinstance(checked.body, EnvelopeBody):
            return checked
        seen: set[tuple[str, int]] = set()
        for attachment in checked.body.attachments:
            if attachment.reference is None or (attachment.sha256, attachment.size) in seen:
                continue
            seen.add((attachment.sha256, attachment.size))
            try:
                chunks = claims.verified(
                    self.claims.store, attachment.reference, attachment.sha256, attachment.size
                )
                async for _ in chunks:
                    pass
            except Rejected as exc:
                return dataclasses.replace(checked, fault=exc)
        return checked

    def _internal_error(self, unit: str, record: ConsumerRecord, exc: Exception) -> Rejected:
        told = consuming.internal_error(
            "connector", exc, "internal error on a record; quarantined", log, unit=unit,
            topic=record.topic, partition=record.partition, offset=record.offset,
        )  # fmt: skip
        return Rejected(ReasonCode.INTERNAL_ERROR, told)

    def _check(self, unit: str, record: ConsumerRecord) -> Checked | Refused:
        """The router's endorsement for this unit, the sender's own signature as of when the
        router first received it (what the router judged, judged again), and the binding of
        the edXML to the envelope."""
        headers = list(record.headers or ())
        body: EnvelopeBody | StatusBody | None = None
        try:
            endorsed = endorsement.check(
                headers, record.value or b"", unit=unit, router_id=self.settings.router_id,
                trust=self.trust, registry=self.registry,
            )  # fmt: skip
            envelope = decode_signed(
                self.registry, codec.fingerprint_from(headers), record.value or b""
            )
            judged_at = endorsed.received_at or endorsed.created_at
            body = verify(envelope, trust=self.trust, registry=self.registry, at=judged_at).body
            check_addressed(body, endorsed, unit)
            packet = None
            if body.sender != self.settings.router_id:
                packet = edxml.parse(body.edxml) if body.edxml is not None else None
                binding.check(body, packet)
        except Rejected as exc:
            return Refused(body, exc)
        return Checked(endorsed, body, packet)

    async def _apply_isolated(
        self,
        conn: Connection,
        unit: str,
        record: ConsumerRecord,
        checked: Checked | Refused,
        after: list[Callable[[], None]],
    ) -> str:
        mine: list[Callable[[], None]] = []
        try:
            async with conn.transaction():  # a savepoint: this record's effects, or none
                verdict = await self._apply(conn, unit, record, checked, mine)
        except Exception as exc:  # whatever a crafted record provokes
            consuming.contain(exc)
            failure = (
                exc if isinstance(exc, LienthongError) else self._internal_error(unit, record, exc)
            )
            body = checked.body
            mine = []
            async with conn.transaction():
                verdict = await self._quarantine(conn, unit, record, body, failure, mine)
        after += mine
        return verdict

    async def _apply(
        self,
        conn: Connection,
        unit: str,
        record: ConsumerRecord,
        checked: Checked | Refused,
        after: list[Callable[[], None]],
    ) -> str:
        if isinstance(checked, Refused):
            return await self._quarantine(conn, unit, record, checked.body, checked.error, after)
        body, endorsed = checked.body, checked.endorsed
        if isinstance(body, StatusBody):
            return await self._status_received(conn, unit, record, body, checked.packet, after)
        try:
            packing.check_attachments(body)
            if checked.fault is not None and not await registers.incoming_entry(
                conn, unit, body.message_id
            ):  # registered before (and answered 01): a redelivery is a duplicate, never a 02
                raise checked.fault
        except Rejected as exc:
            refusal = self._status(
                unit, body.sender, body.message_id, body.document_id, "02",
                exc.reason.explain(exc.message), exc.reason,
            )  # fmt: skip
            headers, value = self._identity(unit).seal(self.registry, refusal)
            outgoing = Outgoing(self.topics.submit, unit.encode(), value, headers)
            await registers.queue_status(conn, unit, refusal, outgoing, moves=True)
            reason = exc.reason.value
            after.append(
                lambda: log.warning(
                    "incoming refused", unit=unit, message_id=body.message_id, reason_code=reason
                )
            )
            return f"refused:{reason}"
        receipt = self._status(unit, body.sender, body.message_id, body.document_id, "01", None)
        receipt_headers, receipt_value = self._identity(unit).seal(self.registry, receipt)
        receipt_out = Outgoing(self.topics.submit, unit.encode(), receipt_value, receipt_headers)
        number, new = await registers.register_incoming(
            conn,
            unit,
            body,
            subject=_subject(body.edxml),
            redirected_from=",".join(endorsed.redirected_from) or None,
            receipt=(receipt.message_id, receipt_out),
            received_at=datetime.datetime.now(datetime.UTC),
            paper_copy_required=endorsed.paper_copy_required,
        )

        def registered() -> None:
            if new:
                metrics.REGISTERED.labels(unit).inc()
            log.info("registered", unit=unit, message_id=body.message_id, number=number, new=new)

        after.append(registered)
        return "registered" if new else "duplicate"

    async def _status_received(
        self,
        conn: Connection,
        unit: str,
        record: ConsumerRecord,
        body: StatusBody,
        packet: edxml.Packet | None,
        after: list[Callable[[], None]],
    ) -> str:
        """A status about a document this unit sent, from a unit it went to (or the router's
        notice), is recorded; a recall request (13) about a document this unit received, from
        its sender, is noted on the register entry. Anything else is kept aside."""
        if body.status_code == "13":
            entry = await registers.incoming_entry(conn, unit, body.responds_to)
            if entry is None or entry["sender"] != body.sender:
                return await self._quarantine(conn, unit, record, body, _unknown(body, unit), after)
            await registers.recall_requested(conn, unit, body.responds_to, body.created_at)
            after.append(lambda: log.info("recall requested", unit=unit,
                                          message_id=body.responds_to))  # fmt: skip
            return "status:13"
        sent = await registers.outgoing_entry(conn, unit, body.responds_to)
        try:
            if sent is None and not (
                body.sender == self.settings.router_id
                and await registers.published(conn, unit, body.responds_to)
            ):
                raise _unknown(body, unit)
            if sent is not None and body.sender != self.settings.router_id:
                binding.check_response(body, packet, document_id=sent["document_id"], author=unit)
        except Rejected as exc:
            return await self._quarantine(conn, unit, record, body, exc, after)
        new = await registers.record_status(conn, unit, body)
        after.append(lambda: log.info("status", unit=unit, message_id=body.responds_to,
                                      code=body.status_code, new=new))  # fmt: skip
        return f"status:{body.status_code}"

    async def _quarantine(
        self,
        conn: Connection,
        unit: str,
        record: ConsumerRecord,
        body: EnvelopeBody | StatusBody | None,
        refusal: LienthongError,
        after: list[Callable[[], None]],
    ) -> str:
        message_id = body.message_id if body is not None else None
        await registers.quarantine(
            conn, unit, record, message_id=message_id, reason=refusal.reason,
            detail=refusal.message,
        )  # fmt: skip

        def quarantined() -> None:
            metrics.QUARANTINED.labels(unit, refusal.reason.value).inc()
            log.warning(
                "incoming refused and quarantined", unit=unit, message_id=message_id,
                reason_code=refusal.reason.value, reason=refusal.message,
                topic=record.topic, partition=record.partition, offset=record.offset,
            )  # fmt: skip

        after.append(quarantined)
        return f"refused:{refusal.reason.value}"

    def _identity(self, unit: str) -> Identity:
        identity = self.identities.get(unit)
        if identity is None:
            raise Rejected(ReasonCode.UNIT_UNKNOWN, f"this connector does not host {unit}")
        return identity


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """A record of the unit's topic whose endorsement, signature and binding held."""

    endorsed: Endorsement
    body: EnvelopeBody | StatusBody
    packet: edxml.Packet | None
    fault: Rejected | None = None
    """Why its attachments carried by reference are refused, if they are."""


@dataclasses.dataclass(frozen=True, slots=True)
class Refused:
    """A record to quarantine, with what it is when its signature got that far."""

    body: EnvelopeBody | StatusBody | None
    error: LienthongError


def _unknown(status: StatusBody, unit: str) -> Rejected:
    return Rejected(
        ReasonCode.STATUS_UNKNOWN_MESSAGE,
        f"{status.sender} sent status {status.status_code} about {status.responds_to}, "
        f"which {unit} never {'received from it' if status.status_code == '13' else 'sent'}",
    )


def check_addressed(body: EnvelopeBody | StatusBody, endorsed: Endorsement, unit: str) -> None:
    """The router's endorsement must be about this envelope, for one of its recipients, and
    reach this unit either as that recipient or as the successor it was redirected to."""
    if endorsed.message_id != body.message_id:
        raise Rejected(
            ReasonCode.ENDORSEMENT_INVALID,
            f"the endorsement is about {endorsed.message_id}, the envelope is {body.message_id}",
        )
    addressed = body.recipients if isinstance(body, EnvelopeBody) else (body.recipient,)
    if endorsed.requested not in addressed:
        raise Rejected(
            ReasonCode.NOT_A_RECIPIENT,
            f"{endorsed.requested} is not a recipient of {body.message_id}",
        )
    if endorsed.requested != unit and not endorsed.redirected_from:
        raise Rejected(
            ReasonCode.NOT_A_RECIPIENT,
            f"{body.message_id} is for {endorsed.requested}, and was not redirected to {unit}",
        )


def _subject(edxml_bytes: bytes) -> str | None:
    try:
        packet = edxml.parse(edxml_bytes)
    except Rejected:
        return None
    return packet.subject if isinstance(packet, edxml.DocumentPacket) else packet.description


async def _one(content: bytes) -> AsyncIterator[bytes]:
    """Content already in memory (it came inline), given to the store as a stream."""
    yield content
