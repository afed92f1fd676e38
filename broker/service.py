"""The router service: consume the submit topic, run the stages, route, record, commit.

Offsets are committed only after every effect of a batch is durable (produced and written),
so a crash replays the tail of a batch; the ledger's message ids make that replay harmless.
Several routers in one consumer group share the submit partitions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
import uuid
from pathlib import Path

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from broker import ledger, notices
from broker.directory import store
from broker.policy import malware, rules
from broker.stages import Incoming, Refusal
from broker.stages.address import Addressed, address
from broker.stages.authenticate import Authenticated, Window, authenticate, in_window
from broker.stages.decode import Decoded, decode
from broker.stages.entitle import Context, delivery_of, entitle
from broker.stages.policy import Screened, screen
from broker.stages.route import route
from kernel import consuming, database, kafka, metrics
from kernel.budget import Budget, Workers
from kernel.errors import ConfigurationError, Rejected, ScannerUnavailable
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.service import Service, stop_event
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import binding, codec, edxml, statuses
from schemas.envelope import Body, DeadLetter, Header, StatusBody, encode, open_body
from signing.certificates import TrustStore
from signing.identity import Identity

RELOAD_SECONDS = 15.0
DEAD_LETTER_MARGIN = 64 * 1024
"""Room left in the topic's record limit for the dead letter's own fields and batching."""
LANES = 8
"""Senders whose records one router handles at the same time (bounded by the DB pool)."""
log = structlog.get_logger(__name__)


class Router(Service):
    def __init__(
        self,
        settings: Settings,
        *,
        kafka_config: ClientConfig,
        dsn: str,
        reload_seconds: float = RELOAD_SECONDS,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.kafka_config = kafka_config
        self.dsn = dsn
        self.reload_seconds = reload_seconds
        self.topics = Topics(settings.topic_prefix, settings.max_message_bytes)
        self.group_id = self.topics.router_group
        self.registry = codec.Registry.load()
        self._reloaded_at = 0.0
        self._trust_stamp: tuple[float, int] = (0.0, 0)
        self._policy_stamp: tuple[float, int] = (0.0, 0)
        self._directory_stamp: tuple[object, int] | None = None
        self.window = Window(
            skew=datetime.timedelta(seconds=settings.max_clock_skew),
            age=datetime.timedelta(seconds=settings.max_envelope_age),
        )
        address = settings.clamd_address
        self.scanner = malware.Clamd(address) if address else None

    async def start(self) -> None:
        self.identity = Identity.load(self.settings.keys_dir / "router", self.settings.router_id)
        self.workers = Workers(
            Budget(
                seconds=self.settings.job_seconds,
                memory_mb=self.settings.job_memory_mb,
                workers=self.settings.job_workers,
            )
        )
        self._stack.callback(self.workers.close)
        self.pool: asyncpg.Pool = await self._stack.enter_async_context(
            database.pool(self.dsn, schema=self.settings.database_schema)
        )
        limit = self.settings.max_message_bytes + 1024 * 1024
        self.producer = AIOKafkaProducer(
            **self.kafka_config.aiokafka(),
            acks="all",
            enable_idempotence=True,
            max_request_size=limit,
            linger_ms=2,
        )
        self.consumer = AIOKafkaConsumer(
            self.topics.submit,
            **self.kafka_config.aiokafka(),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=limit,
            fetch_max_bytes=limit * 2,
        )
        await kafka.check_access(self.kafka_config)
        # Each client is closed by `stop` even when its own start is what failed.
        self._stack.push_async_callback(self.producer.stop)
        self._stack.push_async_callback(self.consumer.stop)
        with kafka.mapped_errors("the router cannot reach Kafka"):
            await self.producer.start()
            await self._reload(force=True)
            await self.consumer.start()
        await self._check_scanner()
        log.info("router started", group=self.group_id, submit=self.topics.submit)

    async def _check_scanner(self) -> None:
        """Say at start what scanning will do; a silent clamd would otherwise only show as
        documents waiting (they are never routed unscanned while one is configured)."""
        if self.scanner is None:
            log.warning("no malware scanner configured: attachments are recorded as not scanned")
            return
        try:
            log.info("malware scanner", address=self.scanner.address,
                     version=await self.scanner.version())  # fmt: skip
        except ScannerUnavailable as exc:
            log.warning("malware scanner not answering; documents wait for it", error=exc.message)

    async def stop(self) -> None:
        await self._stack.aclose()
        log.info("router stopped")

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
        """Route until `stop` is set (or SIGTERM/SIGINT, with `handle_signals`): the batch in
        hand is finished and committed before returning."""
        stop = stop_event(stop, handle_signals=handle_signals)
        await consuming.consume(self.consumer, self._handle_batch, stop, name="router")

    async def _handle_batch(self, batch: consuming.Batch) -> None:
        """Records of one sender (one key) in order; different senders side by side.

        A sender's documents and statuses, and any replay of them, keep their order, so a
        repeat always finds the first already in the ledger.
        """
        lanes: dict[bytes | None, list[ConsumerRecord]] = {}
        for records in batch.values():
            for record in records:
                lanes.setdefault(record.key, []).append(record)
        gate = asyncio.Semaphore(LANES)

        async def lane(records: list[ConsumerRecord]) -> None:
            async with gate:
                for record in records:
                    await self.handle_isolated(_incoming(record))

        outcomes = await asyncio.gather(*(lane(r) for r in lanes.values()), return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
        for partition, records in batch.items():
            metrics.CONSUMER_LAG.labels(self.group_id, partition.topic, partition.partition).set(
                max(0, (self.consumer.highwater(partition) or 0) - records[-1].offset - 1)
            )
        await self._reload()

    async def handle_isolated(self, incoming: Incoming) -> str:
        """`handle`, with one record's failure kept to that record: anything but a transient
        Kafka or PostgreSQL failure (which rewinds the batch) becomes its `internal_error`
        dead letter, and the batch goes on."""
        try:
            return await self.handle(incoming)
        except Exception as exc:  # whatever a crafted record provokes
            if consuming.transient(exc) or consuming.fatal(exc):
                raise
            return await self._internal_error(incoming, exc)

    async def _internal_error(self, incoming: Incoming, exc: Exception) -> str:
        """Dead-lettered with the exception's type and message (never a traceback: dead
        letters can be shown to whoever sent the record), counted and logged in full."""
        name = type(exc).__name__
        refusal = Refusal("internal", ReasonCode.INTERNAL_ERROR, f"{name}: {str(exc)[:500]}")
        metrics.INTERNAL_ERRORS.labels("router", name).inc()
        claimed = self._claimed(incoming)
        log.error(
            "internal error on a record; dead-lettered", error_type=name,
            claimed_message_id=claimed.message_id if claimed else None,
            topic=incoming.topic, partition=incoming.partition, offset=incoming.offset,
            exc_info=exc,
        )  # fmt: skip
        await self._dead_letter(incoming, refusal, None)
        try:
            async with self.pool.acquire() as conn:
                await ledger.record_rejected(
                    conn, None, refusal, incoming,
                    claimed=(claimed.sender, claimed.message_id) if claimed else (None, None),
                )  # fmt: skip
        except Exception as again:  # the Kafka dead letter holds it whole
            if consuming.transient(again):
                raise
            log.error("the dead letter is on Kafka only", error=str(again)[:500])
        return f"rejected:{ReasonCode.INTERNAL_ERROR.value}"

    def _claimed(self, incoming: Incoming) -> Body | None:
        """What a record says it is, read without trusting it, for the operator's log."""
        try:
            decoded = decode(incoming, self.registry, self.settings.max_message_bytes)
            return None if isinstance(decoded, Refusal) else self._unverified_body(decoded)
        except Exception:  # only a label for a log line
            return None

    async def handle(self, incoming: Incoming) -> str:
        """Take one record through the stages; return what became of it."""
        decoded = decode(incoming, self.registry, self.settings.max_message_bytes)
        if isinstance(decoded, Refusal):
            return await self._reject(incoming, decoded, None)
        claimed = self._unverified_body(decoded)
        async with self.pool.acquire() as conn:
            seen = await ledger.seen(conn, claimed.message_id if claimed else None, incoming.value)
        received_at = seen.first_received_at or _now()
        authenticated = self._authenticate(decoded, received_at)
        if isinstance(authenticated, Refusal) and await self._reload(now=True):
            authenticated = self._authenticate(decoded, received_at)
        if isinstance(authenticated, Refusal):
            return await self._reject(incoming, authenticated, None, claimed=claimed)
        body = authenticated.verified.body
        bound = log.bind(message_id=body.message_id, sender=body.sender)
        facts = ledger.MessageFacts.of(body, incoming, received_at)
        try:
            binding.check_message_id(body)
        except Rejected as exc:
            # Told to its sender, but no ledger row under an id that is not its own to take.
            return await self._reject(incoming, Refusal.of("entitle", exc), facts, keep=False)
        timely = in_window(authenticated, self.window)
        if isinstance(timely, Refusal):
            return await self._reject(incoming, timely, facts)
        if seen.sender is not None and seen.sender != body.sender:
            taken = Refusal(
                "entitle", ReasonCode.MESSAGE_ID_TAKEN,
                f"{body.message_id} is a message of {seen.sender}",
            )  # fmt: skip
            return await self._reject(incoming, taken, facts)
        if seen.verdict == ledger.ROUTED:
            metrics.DUPLICATES.inc()
            bound.info("already routed; not routed again")
            return "duplicate"
        context = await self._context(body)
        entitled = entitle(authenticated, context)
        if isinstance(entitled, Refusal):
            return await self._reject(
                incoming, entitled, facts, timeline=_timeline(entitled, body, context)
            )
        addressed = address(authenticated, self.directory)
        if isinstance(addressed, Refusal) and await self._reload(now=True):
            addressed = address(authenticated, self.directory)
        if isinstance(addressed, Refusal):
            return await self._reject(incoming, addressed, facts)
        screened = await self.screen(addressed, released=seen.released)
        if isinstance(screened, Refusal):
            return await self._reject(incoming, screened, facts)
        for scan in screened.scans:
            metrics.MALWARE_SCANS.labels(scan.verdict).inc()
        if screened.refusal is not None:
            async with self.pool.acquire() as conn:
                await ledger.record_screening(
                    conn, body.message_id, screened.decision, screened.scans
                )
            return await self._reject(incoming, screened.refusal, facts)
        if screened.decision.action == "hold":
            async with self.pool.acquire() as conn:
                await ledger.record_held(conn, facts, incoming, screened.decision, screened.scans)
            for rule in {h.rule for h in screened.decision.hits if h.action == "hold"}:
                metrics.HELD.labels(rule).inc()
            bound.warning("held for review", rules=[h.rule for h in screened.decision.hits])
            return "held"
        if isinstance(body, StatusBody):
            assert entitled.delivery is not None  # the entitle stage found it for a status
            # On the timeline before it is routed, so an answer to it (15 after a 13) that
            # overtakes this call finds it there.
            async with self.pool.acquire() as conn:
                await ledger.record_status(
                    conn, facts, body, entitled.delivery,
                    moves=entitled.step is statuses.Step.FORWARD,
                )  # fmt: skip
            await route(addressed, self.producer, self.topics, self.identity, self.registry)
            async with self.pool.acquire() as conn:
                await ledger.mark_routed(conn, body.message_id)
        else:
            # Deliveries first: a receipt may reach the ledger before this call returns.
            paper = screened.decision.paper_copy_required
            async with self.pool.acquire() as conn:
                await ledger.record_routing(
                    conn, facts, addressed.routes, addressed.refused, paper_copy_required=paper
                )
                await ledger.record_screening(
                    conn, body.message_id, screened.decision, screened.scans
                )
            await route(
                addressed, self.producer, self.topics, self.identity, self.registry,
                paper_copy_required=paper,
            )  # fmt: skip
            await self._tell_sender(addressed)
            async with self.pool.acquire() as conn:
                await ledger.mark_routed(conn, body.message_id)
        kind = facts.kind
        metrics.ROUTED.labels(kind).inc()
        metrics.LATENCY.observe(max(0.0, (_now() - body.created_at).total_seconds()))
        bound.info(
            "routed",
            kind=kind,
            to=[r.delivered_to for r in addressed.routes],
            refused=[r for r, _ in addressed.refused],
        )
        return "routed"

    def _authenticate(
        self, decoded: Decoded, received_at: datetime.datetime
    ) -> Authenticated | Refusal:
        return authenticate(decoded, self.trust, self.registry, received_at=received_at)

    async def _context(self, body: Body) -> Context:
        """What the entitle stage needs from the ledger, read before it runs."""
        async with self.pool.acquire() as conn:
            if isinstance(body, StatusBody):
                return Context(original=await ledger.original(conn, body.responds_to))
            if body.kind in binding.FOLLOW_UPS:
                try:
                    packet = edxml.parse(body.edxml)
                except Rejected:
                    return Context()  # the entitle stage refuses it with the parser's reason
                known = await ledger.sent_document(
                    conn, body.sender, binding.referenced(packet), besides=body.message_id
                )
                return Context(follows_sent_document=known)
        return Context()

    async def screen(self, addressed: Addressed, *, released: bool) -> Screened | Refusal:
        """The policy stage, a method so the benchmark can measure the router without it."""
        return await screen(
            addressed, self.policy, released=released, trust=self.trust, scanner=self.scanner,
            directory=self.directory, workers=self.workers,
        )  # fmt: skip

    async def _tell_sender(self, addressed: Addressed) -> None:
        body = addressed.authenticated.verified.body
        if isinstance(body, StatusBody):
            return
        for target in addressed.routes:
            if target.hops:
                await notices.send_notice(
                    self.producer, self.topics, self.registry, self.identity,
                    to_unit=body.sender, about=body.message_id, about_recipient=target.requested,
                    code=notices.REDIRECT_CODE, reason=ReasonCode.UNIT_REDIRECTED,
                    detail=f"{target.requested} -> {target.delivered_to}",
                    document_id=body.document_id,
                )  # fmt: skip
        for recipient, refusal in addressed.refused:
            await notices.send_notice(
                self.producer, self.topics, self.registry, self.identity,
                to_unit=body.sender, about=body.message_id, about_recipient=recipient,
                code="02", reason=refusal.reason, detail=refusal.message,
                document_id=body.document_id,
            )  # fmt: skip

    async def _reject(
        self,
        incoming: Incoming,
        refusal: Refusal,
        facts: ledger.MessageFacts | None,
        *,
        claimed: Body | None = None,
        timeline: tuple[str, str, str] | None = None,
        keep: bool = True,
    ) -> str:
        """Dead-letter and record a refusal; tell the sender only when its signature held.

        `facts` None: the envelope did not authenticate. It names a sender and a message id
        nobody has proven: a 02 signed by the router about it would be a refusal forged
        without a key, sent to whichever unit the forger chose, and a ledger row under that
        id could overwrite a real message's verdict. It is dead-lettered and counted, with
        what it `claimed` kept on the dead letter for the operator, and nothing else.
        Without `keep`, a verified sender is told but its message gets no ledger row either
        (its id is not its own to occupy).
        """
        bound = log.bind(
            message_id=facts.message_id if facts else None,
            sender=facts.sender if facts else None,
        )
        metrics.REJECTED.labels(refusal.stage, refusal.reason.value).inc()
        await self._dead_letter(incoming, refusal, facts.message_id if facts else None)
        if facts is not None and facts.sender in self.directory.units:
            await notices.send_notice(
                self.producer, self.topics, self.registry, self.identity,
                to_unit=facts.sender, about=facts.message_id, about_recipient="*",
                code="02", reason=refusal.reason, detail=refusal.message,
                document_id=facts.document_id,
            )  # fmt: skip
        if facts is not None and not keep:
            claimed_ids: tuple[str | None, str | None] = (facts.sender, facts.message_id)
        else:
            claimed_ids = (claimed.sender, claimed.message_id) if claimed else (None, None)
        async with self.pool.acquire() as conn:
            await ledger.record_rejected(
                conn, facts if keep else None, refusal, incoming, claimed=claimed_ids,
                timeline=timeline,
            )  # fmt: skip
        bound.warning(
            "rejected",
            claimed_sender=claimed.sender if claimed else None,
            claimed_message_id=claimed.message_id if claimed else None,
            stage=refusal.stage,
            reason_code=refusal.reason.value,
            reason=refusal.message,
        )
        return f"rejected:{refusal.reason.value}"

    async def _dead_letter(
        self, incoming: Incoming, refusal: Refusal, message_id: str | None
    ) -> None:
        letter = DeadLetter(
            dead_letter_id=str(uuid.uuid4()),
            received_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
            topic=incoming.topic,
            partition=incoming.partition,
            offset=incoming.offset,
            original=incoming.value,
            stage=refusal.stage,
            reason_code=refusal.reason.value,
            reason=refusal.message,
            key=incoming.key,
            headers=tuple(Header(k, v) for k, v in incoming.headers),
        )
        fingerprint, value = encode(self.registry, letter)
        if len(value) > self.settings.max_message_bytes - DEAD_LETTER_MARGIN:
            # Too big for the dead-letter topic: the ledger's dead_letters row keeps it whole.
            letter = dataclasses.replace(
                letter, original=b"", headers=(), key=None,
                reason=f"{letter.reason} [original, key and headers too large for this topic: "
                "kept whole in the ledger's dead_letters table]",
            )  # fmt: skip
            fingerprint, value = encode(self.registry, letter)
        with kafka.mapped_errors("writing a dead letter failed"):
            await self.producer.send_and_wait(
                self.topics.deadletter,
                value,
                key=(message_id or "").encode() or None,
                headers=codec.fingerprint_header(fingerprint),
            )

    async def _track_unit_topics(self) -> None:
        await kafka.track_topics(
            self.producer,
            [self.topics.submit, self.topics.deadletter]
            + [self.topics.unit(u) for u in self.directory.units],
        )

    def _unverified_body(self, decoded: Decoded) -> Body | None:
        """The body of an envelope that failed authentication, read only to address the 02."""
        try:
            return open_body(self.registry, decoded.envelope)
        except Rejected:
            return None

    async def _reload(self, *, force: bool = False, now: bool = False) -> bool:
        """Pick up a changed trust store or directory without a restart; True if one changed.

        Checked every `reload_seconds`, and at once (`now`) before refusing an envelope for
        a reason an update could have fixed, so an operator's fix and replay are not raced.
        """
        moment = time.monotonic()
        if not (force or now) and moment - self._reloaded_at < self.reload_seconds:
            return False
        self._reloaded_at = moment
        changed = False
        trust_stamp = _folder_stamp(self.settings.trust_store_dir)
        if force or trust_stamp != self._trust_stamp:
            self.trust = TrustStore.load(self.settings.trust_store_dir)
            self._trust_stamp = trust_stamp
            changed = True
            log.info("trust store loaded", roots=len(self.trust.roots), crls=len(self.trust.crls))
        policy_file = self.settings.policy_file or rules.DEFAULT_POLICY
        policy_stamp = _file_stamp(policy_file)
        if force or policy_stamp != self._policy_stamp:
            self.policy = rules.load(policy_file)
            self._policy_stamp = policy_stamp
            changed = True
            log.info("policy loaded", file=str(policy_file), rules=len(self.policy.rules))
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT max(updated_at) AS at, count(*) AS n FROM units")
            stamp = (row["at"], row["n"]) if row else None
            if force or stamp != self._directory_stamp:
                directory = await store.fetch(conn)
                if self.identity.unit in directory.units:
                    raise ConfigurationError(
                        f"the router's identity {self.identity.unit} is a unit of the "
                        "directory: its endorsements and notices would pass for that unit's "
                        "word. Give the router an identity of its own (LIENTHONG_ROUTER_ID)."
                    )
                self.directory = directory
                self._directory_stamp = stamp
                changed = True
                await self._track_unit_topics()
                log.info("directory loaded", units=len(self.directory.units))
        return changed


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _timeline(refusal: Refusal, body: Body, context: Context) -> tuple[str, str, str] | None:
    """A status refused for moving its delivery back stays on that delivery's timeline."""
    if refusal.reason is not ReasonCode.STATUS_BACKWARDS or not isinstance(body, StatusBody):
        return None
    delivery = delivery_of(context.original, body.sender) if context.original else None
    return (body.responds_to, delivery.recipient, body.status_code) if delivery else None


def _incoming(record: ConsumerRecord) -> Incoming:
    return Incoming(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers or ()),
    )


def _file_stamp(path: Path) -> tuple[float, int]:
    stat = path.stat()
    return (stat.st_mtime, stat.st_size)


def _folder_stamp(folder: Path) -> tuple[float, int]:
    files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    return (max((p.stat().st_mtime for p in files), default=0.0), len(files))
