"""The router service: consume the submit topic, run the stages, route, record, commit.

Offsets are committed only after every effect of a batch is durable (produced and written),
so a crash replays the tail of a batch; the ledger's message ids make that replay harmless.
Several routers in one consumer group share the submit partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from broker import gauges, jobs, ledger, notices, producing
from broker.batch import Item, rounds
from broker.directory import store
from broker.outcome import Outcome, Verdict, dead_letter
from broker.policy import malware, rules
from broker.policy.rules import Decision
from broker.producing import Record
from broker.stages import Incoming, Refusal
from broker.stages.address import Addressed, address
from broker.stages.authenticate import Authenticated, Window, authenticate, in_window
from broker.stages.decode import Decoded, decode
from broker.stages.entitle import Context, delivery_of, entitle
from broker.stages.policy import Screened, screen
from broker.stages.route import route
from kernel import consuming, database, kafka, metrics
from kernel.budget import Budget, Workers
from kernel.claims import Claims
from kernel.errors import (
    ConfigurationError,
    OverBudget,
    Rejected,
    ScannerUnavailable,
)
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.service import Service, stop_event
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import binding, codec, edxml, statuses
from schemas.edxml import Packet
from schemas.envelope import Body, EnvelopeBody, StatusBody, open_body
from signing.certificates import TrustStore
from signing.identity import Identity

RELOAD_SECONDS = 15.0
LANES = 8
"""Records of a round screened at the same time (their heavy work is in worker processes)."""
PARSE_INLINE_BYTES = 256 * 1024
"""An edXML up to this size is parsed on the event loop (about a millisecond); a larger
one in the worker pool, under the budget."""
Parsed = Packet | Exception
"""A body's edXML: the packet, or why it is none (a Rejected, OverBudget among them, or
the defect it provoked)."""
URGENT_FIRST_SECONDS = 5.0
"""How long a round from the submit topic waits for the urgent lane to be idle."""
WAVE_SECONDS = 1.0
"""How long a round's decided records wait for the rest before they go out."""
T = TypeVar("T")
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
        self._reloaded_in_round = False
        self._urgent_idle = asyncio.Event()
        self._urgent_idle.set()
        self.window = Window(
            skew=datetime.timedelta(seconds=settings.max_clock_skew),
            age=datetime.timedelta(seconds=settings.max_envelope_age),
        )
        address = settings.clamd_address
        self.scanner = malware.Clamd(address) if address else None
        self.claims = Claims.from_settings(settings)

    async def start(self) -> None:
        self.identity = Identity.load(self.settings.keys_dir / "router", self.settings.router_id)
        self.workers = Workers(
            Budget(
                seconds=self.settings.job_seconds,
                memory_mb=self.settings.job_memory_mb,
                workers=self.settings.job_workers,
            ),
            preload=["broker.jobs"],
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
        self.consumer = self._consumer(self.topics.submit, self.group_id, limit)
        self.urgent = self._consumer(self.topics.submit_urgent, self.topics.router_urgent_group,
                                     limit)  # fmt: skip
        await kafka.check_access(self.kafka_config)
        # Each client is closed by `stop` even when its own start is what failed.
        self._stack.push_async_callback(self.producer.stop)
        self._stack.push_async_callback(self.consumer.stop)
        self._stack.push_async_callback(self.urgent.stop)
        with kafka.mapped_errors("the router cannot reach Kafka"):
            await self.producer.start()
            await self._reload(force=True)
            await self.consumer.start()
            await self.urgent.start()
        await self._check_scanner()
        await self.claims.sweep()
        await self._stack.enter_async_context(gauges.sampling(self))
        log.info("router started", group=self.group_id, submit=self.topics.submit)

    def _consumer(self, topic: str, group: str, limit: int) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            **self.kafka_config.aiokafka(),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=limit,
            fetch_max_bytes=limit * 2,
        )

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
        hand is finished and committed before returning. The urgent lane has a consume loop
        of its own, and the submit loop waits while it has work, so urgent documents
        overtake a backlog rather than queue behind it."""
        stop = stop_event(stop, handle_signals=handle_signals)
        loops = [
            asyncio.create_task(
                consuming.consume(self.urgent, self._handle_urgent, stop, name="router urgent")
            ),
            asyncio.create_task(
                consuming.consume(self.consumer, self._handle_batch, stop, name="router")
            ),
        ]
        try:
            await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            # One loop failing stops the other before the clients close under it.
            stop.set()
            ended = await asyncio.gather(*loops, return_exceptions=True)
        failure = next((e for e in ended if isinstance(e, BaseException)), None)
        if failure is not None:
            raise failure

    async def _handle_urgent(self, batch: consuming.Batch) -> None:
        if not batch:
            return
        self._urgent_idle.clear()
        try:
            await self._handle_batch(batch, urgent=True)
        finally:
            self._urgent_idle.set()

    async def _handle_batch(self, batch: consuming.Batch, *, urgent: bool = False) -> None:
        """Decode every record, cut the batch into rounds of independent records, and take
        each round through the stages, the ledger and Kafka as a whole (`_round`)."""
        items = [self._item(_incoming(r)) for records in batch.values() for r in records]
        for group in rounds(items):
            if not urgent:
                # Bounded: a flood on the urgent lane slows the submit topic, never stops it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent_idle.wait(), URGENT_FIRST_SECONDS)
            await self._round(group)
        consumer = self.urgent if urgent else self.consumer
        group_id = self.topics.router_urgent_group if urgent else self.group_id
        assigned = consumer.assignment()
        for partition, records in batch.items():
            if partition not in assigned:  # a rebalance took it during the batch
                continue
            metrics.CONSUMER_LAG.labels(group_id, partition.topic, partition.partition).set(
                max(0, (consumer.highwater(partition) or 0) - records[-1].offset - 1)
            )
        if not urgent:
            await self._reload()

    async def _round(self, items: list[Item]) -> list[Outcome]:
        """Read what the ledger knows (one query), judge every record (pure stages; the
        policy's heavy work in worker processes), then `_finish` the outcomes. A record
        that makes any step fail unexpectedly becomes its own `internal_error` outcome;
        only a transient Kafka or PostgreSQL failure rewinds the batch."""
        self._reloaded_in_round = False
        with metrics.ROUND_STEP.labels("ledger_read").time():
            async with self.pool.acquire() as conn:
                seen = await ledger.seen_many(
                    conn, [(i.claimed.message_id if i.claimed else None, i.incoming.sha256)
                           for i in items]
                )  # fmt: skip
        admitted: list[Outcome | Admitted] = []
        for item, known in zip(items, seen, strict=True):
            admitted.append(await self._isolated(item.incoming, self._admit(item, known)))
        passed = [a for a in admitted if isinstance(a, Admitted)]
        packets = await self._parse(passed)
        with metrics.ROUND_STEP.labels("ledger_read").time():
            contexts = await self._contexts(passed, packets)
        gate = asyncio.Semaphore(LANES)

        async def decide(step: Outcome | Admitted) -> Outcome:
            if isinstance(step, Outcome):
                return step
            message_id = step.body.message_id
            async with gate:
                return await self._isolated(
                    step.incoming,
                    self._decide(step, contexts.get(message_id), packets.get(message_id)),
                )

        tasks = [asyncio.ensure_future(decide(a)) for a in admitted]
        outcomes: list[Outcome] = []
        try:
            while tasks:
                # What is decided goes out in waves, so a record whose content takes its
                # whole budget to read holds back no one else; offsets still wait for all.
                with metrics.ROUND_STEP.labels("decide").time():
                    await asyncio.wait(tasks, timeout=WAVE_SECONDS)
                wave = [t.result() for t in tasks if t.done()]
                tasks = [t for t in tasks if not t.done()]
                outcomes += await self._finish(wave)
        finally:
            for task in tasks:
                task.cancel()
        return outcomes

    async def _finish(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Write the outcomes' rows (one transaction), produce their records (together),
        mark the routed ones, then log and count them."""
        if not outcomes:
            return outcomes
        with metrics.ROUND_STEP.labels("write").time():
            outcomes = await self._write(outcomes)
        with metrics.ROUND_STEP.labels("produce").time():
            outcomes = await self._produce(outcomes)
        routed = [o.routed for o in outcomes if o.routed is not None]
        if routed:
            with metrics.ROUND_STEP.labels("mark_routed").time():
                async with self.pool.acquire() as conn:
                    await ledger.mark_routed(conn, routed)
        for outcome in outcomes:
            try:
                outcome.report()
            except Exception as exc:  # a log line must not undo a batch
                log.error("reporting an outcome failed", error=repr(exc)[:300])
        return outcomes

    async def _produce(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Every record of the outcomes, their copies' endorsements signed together, sent
        together. Should the signing or Kafka fail for good (not a transient failure), each
        outcome is signed and sent alone, and the one that fails becomes its internal
        error: that record's dead letter, its copies not sent."""
        try:
            self._seal(outcomes)
            await producing.send_all(self.producer, [r for o in outcomes for r in o.records])
            return outcomes
        except Exception as exc:
            consuming.contain(exc)
            log.warning("a round's records failed together; producing them one by one",
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")  # fmt: skip
        produced = []
        for outcome in outcomes:
            try:
                self._seal([outcome])
                await producing.send_all(self.producer, outcome.records)
            except Exception as exc:
                consuming.contain(exc)
                outcome = self._internal_error(outcome.incoming, exc)
                await self._write_alone(outcome)
                await producing.send_all(self.producer, outcome.records)
            produced.append(outcome)
        return produced

    def _seal(self, outcomes: list[Outcome]) -> None:
        """The outcomes' copies, their endorsements signed with one signature for all."""
        flat = [r for o in outcomes for r in o.records]
        waves = self.settings.endorse_waves
        records = iter(producing.sealed(flat, self.identity, self.registry, waves=waves))
        for outcome in outcomes:
            outcome.records = [next(records) for _ in outcome.records]

    def _item(self, incoming: Incoming) -> Item:
        try:
            decoded = decode(incoming, self.registry, self.topics.max_envelope_bytes)
        except Exception as exc:  # whatever a crafted record provokes: its internal error
            return Item(incoming, exc, None)
        claimed = None if isinstance(decoded, Refusal) else self._unverified_body(decoded)
        return Item(incoming, decoded, claimed)

    async def _isolated(self, incoming: Incoming, step: Awaitable[T]) -> T | Outcome:
        """One record's step, its failure kept to that record: anything but a transient
        Kafka or PostgreSQL failure (which rewinds the batch) becomes its `internal_error`."""
        try:
            return await step
        except Exception as exc:  # whatever a crafted record provokes
            consuming.contain(exc)
            return self._internal_error(incoming, exc)

    def _internal_error(self, incoming: Incoming, exc: Exception) -> Outcome:
        """Dead-lettered with the exception's type and message (never a traceback: dead
        letters can be shown to whoever sent the record), counted and logged in full."""
        name = type(exc).__name__
        refusal = Refusal("internal", ReasonCode.INTERNAL_ERROR, f"{name}: {str(exc)[:500]}")
        claimed = self._claimed(incoming)
        ids = (claimed.sender, claimed.message_id) if claimed else (None, None)
        outcome = Outcome(incoming, Verdict.REJECTED, refusal=refusal)
        outcome.writes.rejected(None, refusal, incoming, claimed=ids)
        outcome.records.append(dead_letter(self.registry, self.topics, incoming, refusal, None))

        def report() -> None:
            consuming.internal_error(
                "router", exc, "internal error on a record; dead-lettered",
                claimed_message_id=ids[1], topic=incoming.topic,
                partition=incoming.partition, offset=incoming.offset,
            )  # fmt: skip

        outcome.report = report
        return outcome

    def _claimed(self, incoming: Incoming) -> Body | None:
        """What a record says it is, read without trusting it, for the operator's log."""
        try:
            decoded = decode(incoming, self.registry, self.topics.max_envelope_bytes)
            return None if isinstance(decoded, Refusal) else self._unverified_body(decoded)
        except Exception:  # only a label for a log line
            return None

    async def _admit(self, item: Item, seen: ledger.Seen) -> Outcome | Admitted:
        """Decode, authenticate, the message id's own checks and the ledger's memory of it."""
        incoming, decoded = item.incoming, item.decoded
        if isinstance(decoded, Exception):
            return self._internal_error(incoming, decoded)
        if isinstance(decoded, Refusal):
            return self._rejected(incoming, decoded, None)
        received_at = seen.first_received_at or _now()
        authenticated = self._authenticate(decoded, received_at)
        if isinstance(authenticated, Refusal) and await self._reload_once():
            authenticated = self._authenticate(decoded, received_at)
        if isinstance(authenticated, Refusal):
            return self._rejected(incoming, authenticated, None, claimed=item.claimed)
        body = authenticated.verified.body
        facts = ledger.MessageFacts.of(body, incoming, received_at)
        try:
            binding.check_message_id(body)
        except Rejected as exc:
            # Told to its sender, but no ledger row under an id that is not its own to take.
            return self._rejected(incoming, Refusal.of("entitle", exc), facts, keep=False)
        timely = in_window(authenticated, self.window)
        if isinstance(timely, Refusal):
            return self._rejected(incoming, timely, facts)
        if seen.sender is not None and seen.sender != body.sender:
            taken = Refusal(
                "entitle", ReasonCode.MESSAGE_ID_TAKEN,
                f"{body.message_id} is a message of {seen.sender}",
            )  # fmt: skip
            return self._rejected(incoming, taken, facts)
        if seen.verdict == ledger.ROUTED:
            bound = log.bind(message_id=body.message_id, sender=body.sender)

            def report() -> None:
                metrics.DUPLICATES.inc()
                bound.info("already routed; not routed again")

            return Outcome(incoming, Verdict.DUPLICATE, report=report)
        return Admitted(authenticated, facts, seen.released)

    async def _parse(self, admitted: list[Admitted]) -> dict[str, Parsed]:
        """Each body's edXML, parsed once for every stage: on the event loop up to
        PARSE_INLINE_BYTES (a bounded cost), in the workers under the budget above it.
        What a parse raises is kept as that record's answer, never the round's."""
        parsed: dict[str, Parsed] = {}
        large: dict[str, tuple[Callable[..., object], tuple[bytes]]] = {}
        for a in admitted:
            data = a.body.edxml
            if data is None:
                continue
            if len(data) > PARSE_INLINE_BYTES:
                large[a.body.message_id] = (jobs.parse_edxml, (data,))
                continue
            try:
                parsed[a.body.message_id] = edxml.parse(data)
            except Exception as exc:  # the record's refusal, or its internal error
                parsed[a.body.message_id] = exc
        for message_id, answer in (await self.workers.run_all(large)).items():
            if isinstance(answer, tuple):
                reason, message = answer
                parsed[message_id] = Rejected(ReasonCode(reason), message)
            else:
                parsed[message_id] = cast(Parsed, answer)
        return parsed

    async def _contexts(
        self, admitted: list[Admitted], packets: dict[str, Parsed]
    ) -> dict[str, Context]:
        """What the entitle stage needs from the ledger, for the whole round in three reads:
        the documents statuses answer, whether follow-ups refer to routed documents, and
        whether what envelopes name by reference was stored by their senders."""
        statuses_ = [a.body for a in admitted if isinstance(a.body, StatusBody)]
        asks: list[tuple[str, tuple[str, str | None, str]]] = []
        references: dict[str, list[tuple[str, str]]] = {}
        for a in admitted:
            body = a.body
            if not isinstance(body, EnvelopeBody):
                continue
            if body.kind in binding.FOLLOW_UPS:
                packet = packets.get(body.message_id)
                # Unparsed, the entitle stage refuses it with the parser's reason.
                referenced = binding.referenced(packet) if isinstance(packet, Packet) else None
                asks.append((body.message_id, (body.sender, referenced, body.message_id)))
            named = [(body.sender, f.sha256) for f in body.attachments if f.reference is not None]
            if named:
                references[body.message_id] = named
        if not (statuses_ or asks or references):
            return {}
        async with self.pool.acquire() as conn:
            originals = await ledger.originals(conn, [s.responds_to for s in statuses_])
            known = await ledger.sent_documents(conn, [ask for _, ask in asks]) if asks else []
            stored = await ledger.stored(conn, [p for ps in references.values() for p in ps])
        contexts = {s.message_id: Context(original=originals.get(s.responds_to)) for s in statuses_}
        follows = {message_id: sent for (message_id, _), sent in zip(asks, known, strict=True)}
        for message_id in follows.keys() | references.keys():
            contexts[message_id] = Context(
                follows_sent_document=follows.get(message_id, False),
                stored=frozenset(
                    h for u, h in references.get(message_id, []) if (u, h) in stored
                ),
            )  # fmt: skip
        return contexts

    async def _decide(
        self, admitted: Admitted, context: Context | None, parsed: Parsed | None
    ) -> Outcome:
        """Entitle, address, screen: the outcome of an authenticated envelope."""
        authenticated, facts = admitted.authenticated, admitted.facts
        incoming, body = authenticated.decoded.incoming, admitted.body
        context = dataclasses.replace(
            context or Context(), urgent_lane=incoming.topic == self.topics.submit_urgent
        )
        if isinstance(parsed, OverBudget):
            hit = jobs.budget_hit("edXML", f"parsing it {parsed.message}")
            return self._held(facts, incoming, Decision("hold", (hit,)), ())
        if isinstance(parsed, Rejected):
            return self._rejected(incoming, Refusal.of("entitle", parsed), facts)
        if isinstance(parsed, Exception):
            raise parsed  # a defect the edXML provoked: its internal error
        entitled = entitle(authenticated, context, parsed)
        if isinstance(entitled, Refusal):
            return self._rejected(
                incoming, entitled, facts, timeline=_timeline(entitled, body, context)
            )
        addressed = address(authenticated, self.directory)
        if isinstance(addressed, Refusal) and await self._reload_once():
            addressed = address(authenticated, self.directory)
        if isinstance(addressed, Refusal):
            return self._rejected(incoming, addressed, facts)
        screened = await self.screen(addressed, parsed, released=admitted.released)
        if isinstance(screened, Refusal):
            return self._rejected(incoming, screened, facts)
        scans = [scan.verdict for scan in screened.scans]
        if screened.refusal is not None:
            outcome = self._rejected(incoming, screened.refusal, facts)
            outcome.writes.screening(body.message_id, screened.decision, screened.scans)
            return _counting_scans(outcome, scans)
        if screened.decision.action == "hold":
            held = self._held(facts, incoming, screened.decision, screened.scans)
            return _counting_scans(held, scans)
        bound = log.bind(message_id=body.message_id, sender=body.sender)
        outcome = Outcome(incoming, Verdict.ROUTED, routed=body.message_id)
        paper = screened.decision.paper_copy_required
        if isinstance(body, StatusBody):
            assert entitled.delivery is not None  # the entitle stage found it for a status
            moves = entitled.step is statuses.Step.FORWARD
            outcome.writes.status(facts, body, entitled.delivery, moves=moves)
        else:
            outcome.writes.routing(facts, addressed.routes, addressed.refused,
                                   paper_copy_required=paper)  # fmt: skip
            outcome.writes.screening(body.message_id, screened.decision, screened.scans)
        outcome.records += route(addressed, self.topics, self.identity, paper_copy_required=paper)
        outcome.records += self._to_sender(addressed)
        created_at = body.created_at

        def routed() -> None:
            metrics.ROUTED.labels(facts.kind).inc()
            metrics.LATENCY.observe(max(0.0, (_now() - created_at).total_seconds()))
            bound.info(
                "routed", kind=facts.kind, to=[r.delivered_to for r in addressed.routes],
                refused=[r for r, _ in addressed.refused],
            )  # fmt: skip

        outcome.report = routed
        return _counting_scans(outcome, scans)

    def _held(
        self,
        facts: ledger.MessageFacts,
        incoming: Incoming,
        decision: Decision,
        scans: Sequence[malware.Scan],
    ) -> Outcome:
        """Kept whole for an operator's review (`lienthong review`)."""
        outcome = Outcome(incoming, Verdict.HELD)
        outcome.writes.hold(facts, incoming, decision, scans)
        bound = log.bind(message_id=facts.message_id, sender=facts.sender)

        def held() -> None:
            for rule in {h.rule for h in decision.hits if h.action == "hold"}:
                metrics.HELD.labels(rule).inc()
            bound.warning("held for review", rules=[h.rule for h in decision.hits])

        outcome.report = held
        return outcome

    async def _write(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The round's rows in one transaction. A routing whose message id another record
        took first becomes a duplicate (nothing of it written or produced). Should one
        outcome's rows fail for a reason of their own, each outcome is written alone and the
        one that fails becomes its internal error (written alone too, or kept on Kafka only
        if even that fails)."""
        try:
            async with self.pool.acquire() as conn:
                holds = await ledger.write(conn, [o.writes for o in outcomes])
            return [o if held else _taken(o) for o, held in zip(outcomes, holds, strict=True)]
        except Exception as exc:
            consuming.contain(exc)
            log.warning("a round's rows failed together; writing them one by one",
                        error=f"{type(exc).__name__}: {str(exc)[:300]}")  # fmt: skip
        written = []
        for outcome in outcomes:
            try:
                held = await self._write_alone(outcome)
                written.append(outcome if held else _taken(outcome))
                continue
            except Exception as exc:
                consuming.contain(exc)
                outcome = self._internal_error(outcome.incoming, exc)
            try:
                await self._write_alone(outcome)
            except Exception as again:
                consuming.contain(again)
                log.error("this dead letter is on Kafka only", error=str(again)[:500])
            written.append(outcome)
        return written

    async def _write_alone(self, outcome: Outcome) -> bool:
        async with self.pool.acquire() as conn:
            return (await ledger.write(conn, [outcome.writes]))[0]

    def _to_sender(self, addressed: Addressed) -> list[Record]:
        """A document's sender is told of each redirected and each refused recipient."""
        body = addressed.authenticated.verified.body
        if isinstance(body, StatusBody):
            return []
        told = [
            self._notice(body, target.requested, notices.REDIRECT_CODE,
                         ReasonCode.UNIT_REDIRECTED, f"{target.requested} -> {target.delivered_to}")
            for target in addressed.routes
            if target.hops
        ]  # fmt: skip
        told += [
            self._notice(body, recipient, "02", refusal.reason, refusal.message)
            for recipient, refusal in addressed.refused
        ]
        return told

    def _notice(
        self, about: Body | ledger.MessageFacts, recipient: str, code: str,
        reason: ReasonCode, detail: str,
    ) -> Record:  # fmt: skip
        return notices.notice(
            self.topics, self.registry, self.identity,
            to_unit=about.sender, about=about.message_id, about_recipient=recipient,
            code=code, reason=reason, detail=detail, document_id=about.document_id,
        )  # fmt: skip

    def _authenticate(
        self, decoded: Decoded, received_at: datetime.datetime
    ) -> Authenticated | Refusal:
        return authenticate(decoded, self.trust, self.registry, received_at=received_at)

    async def screen(
        self, addressed: Addressed, packet: Packet | None, *, released: bool
    ) -> Screened | Refusal:
        """The policy stage, a method so the benchmark can measure the router without it."""
        return await screen(
            addressed, packet, self.policy, released=released, trust=self.trust,
            scanner=self.scanner, directory=self.directory, workers=self.workers,
            claims=self.claims,
        )  # fmt: skip

    def _rejected(
        self,
        incoming: Incoming,
        refusal: Refusal,
        facts: ledger.MessageFacts | None,
        *,
        claimed: Body | None = None,
        timeline: tuple[str, str, str] | None = None,
        keep: bool = True,
    ) -> Outcome:
        """A refusal: dead-lettered and recorded; the sender told only when its signature
        held.

        `facts` None: the envelope did not authenticate. It names a sender and a message id
        nobody has proven: a 02 signed by the router about it would be a refusal forged
        without a key, sent to whichever unit the forger chose, and a ledger row under that
        id could overwrite a real message's verdict. It is dead-lettered and counted, with
        what it `claimed` kept on the dead letter for the operator, and nothing else.
        Without `keep`, a verified sender is told but its message gets no ledger row either
        (its id is not its own to occupy).
        """
        outcome = Outcome(incoming, Verdict.REJECTED, refusal=refusal)
        message_id = facts.message_id if facts else None
        outcome.records.append(
            dead_letter(self.registry, self.topics, incoming, refusal, message_id)
        )
        if facts is not None and facts.sender in self.directory.units:
            outcome.records.append(self._notice(facts, "*", "02", refusal.reason, refusal.message))
        if facts is not None and not keep:
            claimed_ids: tuple[str | None, str | None] = (facts.sender, facts.message_id)
        else:
            claimed_ids = (claimed.sender, claimed.message_id) if claimed else (None, None)
        outcome.writes.rejected(
            facts if keep else None, refusal, incoming, claimed=claimed_ids, timeline=timeline
        )
        bound = log.bind(message_id=message_id, sender=facts.sender if facts else None)

        def report() -> None:
            metrics.REJECTED.labels(refusal.stage, refusal.reason.value).inc()
            bound.warning(
                "rejected", claimed_sender=claimed_ids[0], claimed_message_id=claimed_ids[1],
                stage=refusal.stage, reason_code=refusal.reason.value, reason=refusal.message,
            )  # fmt: skip

        outcome.report = report
        return outcome

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

    async def _reload_once(self) -> bool:
        """`_reload(now=True)`, at most once a round: a round of forged envelopes costs one
        look at the trust store and the directory, not one per record."""
        if self._reloaded_in_round:
            return False
        self._reloaded_in_round = True
        return await self._reload(now=True)

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


@dataclasses.dataclass(frozen=True, slots=True)
class Admitted:
    """An envelope whose signature held and whose message id is its sender's to use."""

    authenticated: Authenticated
    facts: ledger.MessageFacts
    released: bool

    @property
    def body(self) -> Body:
        return self.authenticated.verified.body

    @property
    def incoming(self) -> Incoming:
        return self.authenticated.decoded.incoming


def _taken(outcome: Outcome) -> Outcome:
    """A routing that lost its message id to a record written first: nothing of it goes
    out (the first one's copies carry that id)."""
    message_id = outcome.routed

    def report() -> None:
        metrics.DUPLICATES.inc()
        log.info("message id taken by a record routed first; not routed", message_id=message_id)

    return Outcome(outcome.incoming, Verdict.DUPLICATE, report=report)


def _counting_scans(outcome: Outcome, verdicts: Sequence[str]) -> Outcome:
    """The outcome, with its attachments' malware scans counted when it is reported."""
    report = outcome.report

    def counted() -> None:
        for verdict in verdicts:
            metrics.MALWARE_SCANS.labels(verdict).inc()
        report()

    outcome.report = counted
    return outcome


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
