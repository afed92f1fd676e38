"""Federation: two lienthong exchanges (two provinces, or a province and the national level)
joined by a link (`lienthong peer run`), each seeing the other's units as remote, behind a
gateway named in its directory.

Neither router changes: each routes documents and statuses for the other's units to those
units' topics, as for any unit. The link reads those topics on both sides, as the gateway's
principal of each side (pattern subscription: Kafka shows a principal only the topics it
may read, which are exactly the topics of the units behind its gateway), checks each record
as a receiving connector would (the source router's endorsement, the sender's signature and
chain, the binding of the edXML), and hands the sender's envelope, byte for byte, to the
other side's submit topic, keyed by its sender. The other router judges it from scratch:
the signature that arrives is the author's own, end to end (both sides trust the
Government CA roots that issued the units' certificates), and what comes back (01 ... 06,
the recipients' own statuses) is signed by the unit that said it.

The one thing a router says in its own name, a refusal (02 notice), means nothing on the
other side, whose connectors trust only their own router's voice. The link turns it into a
02 from each refused recipient, signed with a gateway certificate that names the refused
side's units and that the other side trusts: this exchange's own gateway certificate for
refusals coming in (`<pki>/gateways/<name>/`, naming the peer's units), and the peer's
for refusals going out (`--peer-identity DIR`, naming this exchange's units; without it
those are recorded only). A refusal of a whole document names no recipient; the link finds
them in what it recorded when the document crossed (`gateway_outbound` one way,
`gateway_inbound` the other). A redirect notice (00) is recorded only.

The link carries only between the two sides: what comes in must be from a unit behind the
gateway, what goes out from a unit of this exchange, and nothing may be addressed to a unit
this directory places behind another gateway (no transit). A certificate from a trusted CA
naming one of this exchange's units (the peer holds one for its refusals) would otherwise let
the peer speak as that unit here. What breaks this, or fails the link's check while the
source router's endorsement of it holds, is recorded (`gateway_inbound`, `gateway_outbound`),
logged and counted with its reason code, and its sender, when it is a unit the link may
address, hears a 02 from the addressed unit. The trust store is read again when its folder
changes, as the router does.

Offsets are committed after the other side's brokers acknowledged what was produced (acks
from every replica); a restart hands the same bytes over again, which the other router
drops by their message id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Literal

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from broker import grants
from broker.directory import Directory, store
from connectors.service import check_addressed
from kernel import consuming, database, kafka, metrics
from kernel.database import Connection
from kernel.errors import ConfigurationError, LienthongError, Rejected
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.service import Service, stop_event
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import binding, codec, edxml
from schemas.envelope import (
    Endorsement,
    EnvelopeBody,
    StatusBody,
    decode_signed,
    notice_id,
    open_body,
    status_id,
)
from signing import endorsement
from signing.certificates import TrustStore
from signing.envelope import verify
from signing.identity import Identity

log = structlog.get_logger(__name__)
Direction = Literal["out", "in"]
MAX_DESCRIPTION = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    """One direction of the link: where records are read, whose router endorsed them, where
    they go, and the certificate that speaks for the source side's units over there."""

    direction: Direction
    source: Topics
    source_router: str
    consumer: AIOKafkaConsumer
    target: Topics
    producer: AIOKafkaProducer
    speaks_for: dict[str, Identity]


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """How to answer a source side's sender: on its own side, as the target side's units."""

    producer: AIOKafkaProducer
    submit: str
    speaks_for: dict[str, Identity]


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    unit: str
    endorsed: Endorsement
    body: EnvelopeBody | StatusBody


class Link(Service):
    def __init__(
        self,
        settings: Settings,
        gateway: str,
        *,
        local_config: ClientConfig,
        peer_config: ClientConfig,
        peer_prefix: str,
        peer_router_id: str,
        dsn: str,
        peer_identity: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.gateway = gateway
        self.local_config = local_config
        self.peer_config = peer_config
        self.local = Topics(settings.topic_prefix, settings.max_message_bytes)
        self.peer = Topics(peer_prefix, settings.max_message_bytes)
        self.peer_router_id = peer_router_id
        self.dsn = dsn
        self.peer_identity = peer_identity
        self.registry = codec.Registry.load()
        self.log = log.bind(gateway=gateway, peer=peer_prefix)

    async def start(self) -> None:
        self.trusted = TrustWatch(self.settings.trust_store_dir)
        self.trust = self.trusted.current()
        self.pool: asyncpg.Pool = await self._stack.enter_async_context(
            database.pool(self.dsn, schema=self.settings.database_schema, max_size=4)
        )
        async with self.pool.acquire() as conn:
            directory: Directory = await store.fetch(conn)
        self.directory = directory
        remote = directory.behind(self.gateway)
        if not remote:
            raise ConfigurationError(
                f"no unit of the directory is reached through gateway {self.gateway}",
                hint="give the peer's units `gateway: NAME` in the directory file and load it",
            )
        # Refusals coming in are said by the peer's units, here: our gateway certificate,
        # for the units behind the gateway only (never one of ours).
        folder = self.settings.keys_dir / "gateways" / self.gateway
        refuse_local_names(directory, Identity.speaking_for(folder), folder)
        inward = Identity.speaking_for(folder, remote)
        # Refusals going out are said by the units the peer's certificate names (ours, as
        # the peer's directory has them), there: what the peer granted the link.
        outward = Identity.speaking_for(self.peer_identity) if self.peer_identity else {}
        peer_gateway = grants.gateway_of(self.peer, self.peer_config.username or "")
        if peer_gateway is None:
            raise ConfigurationError(
                f"the peer's client config is for {self.peer_config.username}, not a gateway "
                f"principal of {self.peer.prefix}",
                hint="the peer's operator makes it: lienthong kafka client-config --gateway NAME",
            )
        self.peer_gateway: str = peer_gateway
        limit = self.settings.max_message_bytes + 1024 * 1024
        self.legs = [
            Leg(
                "out", self.local, self.settings.router_id,
                self._consumer(self.local_config, self.local, self.gateway, limit),
                self.peer, self._producer(self.peer_config, limit), outward,
            ),
            Leg(
                "in", self.peer, self.peer_router_id,
                self._consumer(self.peer_config, self.peer, peer_gateway, limit),
                self.local, self._producer(self.local_config, limit), inward,
            ),
        ]  # fmt: skip
        # A refusal by the link itself goes back on the source side, said by a target unit.
        self.replies: dict[Direction, Reply] = {
            "out": Reply(self.legs[1].producer, self.local.submit, inward),
            "in": Reply(self.legs[0].producer, self.peer.submit, outward),
        }
        with kafka.mapped_errors("the link cannot reach Kafka"):
            for config in (self.local_config, self.peer_config):
                await kafka.check_access(config)
            for leg in self.legs:
                await leg.producer.start()
                await leg.consumer.start()
                leg.consumer.subscribe(pattern=f"^{re.escape(leg.source.unit(''))}.+")
        self.log.info("link started", remote=remote, speaks_out=sorted(outward))

    def _consumer(
        self, config: ClientConfig, topics: Topics, gateway: str, limit: int
    ) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **config.aiokafka(), group_id=topics.gateway_group(gateway), enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=limit,
            metadata_max_age_ms=30_000,
        )  # fmt: skip
        self._stack.push_async_callback(consumer.stop)
        return consumer

    def _producer(self, config: ClientConfig, limit: int) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **config.aiokafka(), acks="all", enable_idempotence=True, max_request_size=limit,
            linger_ms=2,
        )  # fmt: skip
        self._stack.push_async_callback(producer.stop)
        return producer

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
        stop = stop_event(stop, handle_signals=handle_signals)
        async with asyncio.TaskGroup() as group:
            for leg in self.legs:
                name = f"link {self.gateway} {leg.direction}"
                group.create_task(
                    consuming.consume(leg.consumer, self._handler(leg), stop, name=name)
                )

    def _handler(self, leg: Leg) -> Callable[[consuming.Batch], Awaitable[None]]:
        async def handle(batch: consuming.Batch) -> None:
            self.trust = self.trusted.current()
            futures: list[asyncio.Future[object]] = []
            for records in batch.values():
                for record in records:
                    futures += await self._isolated(leg, record)
            with kafka.mapped_errors(f"handing records {leg.direction} failed"):
                await asyncio.gather(*futures)

        return handle

    async def _isolated(self, leg: Leg, record: ConsumerRecord) -> list[asyncio.Future[object]]:
        """One record handed over; whatever it provokes, short of a side being away, stays
        its own (logged and counted, the stream goes on)."""
        try:
            return await self._hand_over(leg, record)
        except Exception as exc:
            consuming.contain(exc)
            consuming.internal_error(
                "link", exc, "internal error on a record; not handed over", self.log,
                direction=leg.direction, topic=record.topic, offset=record.offset,
            )  # fmt: skip
            return []

    async def _hand_over(self, leg: Leg, record: ConsumerRecord) -> list[asyncio.Future[object]]:
        unit = str(record.topic).removeprefix(leg.source.unit(""))
        try:
            checked = self._check(leg, unit, record)
        except Rejected as exc:
            vouched = endorsed_body(record, unit, leg.source_router, self.trust, self.registry)
            if vouched is not None:  # recorded, and its sender told, as a refusal by the link
                return await self._refuse(leg, Checked(unit, *vouched), exc)
            metrics.GATEWAY_REFUSED.labels(self.gateway, leg.direction, exc.reason.value).inc()
            self.log.warning(
                "a record not handed over, not endorsed for this unit", direction=leg.direction,
                topic=record.topic, offset=record.offset, reason_code=exc.reason.value,
                reason=exc.message,
            )  # fmt: skip
            return []
        body = checked.body
        if isinstance(body, StatusBody) and body.sender == leg.source_router:
            return await self._notice(leg, checked, body)
        try:
            self._admit(leg, checked)
        except Rejected as exc:
            if await self._echo(leg, body):
                return []
            return await self._refuse(leg, checked, exc)
        headers = [(k, v) for k, v in record.headers or () if k == codec.FINGERPRINT_HEADER]
        topic = (
            leg.target.lane(body.kind, body.priority)
            if isinstance(body, EnvelopeBody)
            else leg.target.submit
        )
        with kafka.mapped_errors(f"handing {body.message_id} {leg.direction} failed"):
            sent = await leg.producer.send(
                topic, record.value, key=body.sender.encode(), headers=headers[:1]
            )
        if isinstance(body, EnvelopeBody):
            async with self.pool.acquire() as conn:
                await self._remember(conn, leg, checked, body)
        kind = "edoc" if isinstance(body, EnvelopeBody) else "status"
        metrics.GATEWAY_FORWARDED.labels(self.gateway, leg.direction, kind).inc()
        self.log.info("handed over", direction=leg.direction, kind=kind,
                      message_id=body.message_id, sender=body.sender, to=unit)  # fmt: skip
        return [sent]

    def _check(self, leg: Leg, unit: str, record: ConsumerRecord) -> Checked:
        headers = list(record.headers or ())
        value = record.value or b""
        endorsed = endorsement.check(
            headers, value, unit=unit, router_id=leg.source_router, trust=self.trust,
            registry=self.registry,
        )  # fmt: skip
        envelope = decode_signed(self.registry, codec.fingerprint_from(headers), value)
        judged_at = endorsed.received_at or endorsed.created_at
        body = verify(envelope, trust=self.trust, registry=self.registry, at=judged_at).body
        check_addressed(body, endorsed, unit)
        if body.sender != leg.source_router and body.edxml is not None:
            binding.check(body, edxml.parse(body.edxml))
        return Checked(unit, endorsed, body)

    def _admit(self, leg: Leg, checked: Checked) -> None:
        """Only between the two sides: the sender on the source side (behind the gateway on
        the way in, this exchange's own on the way out), no recipient behind another
        gateway. A unit the directory does not know is left to the receiving router."""
        body = checked.body
        found = self.directory.units.get(body.sender)
        side = None if found is None else found.gateway
        if found is None or side != (self.gateway if leg.direction == "in" else None):
            what = (
                "an unknown unit" if found is None
                else f"a unit behind gateway {side}" if side is not None
                else "a unit of this exchange"
            )  # fmt: skip
            raise Rejected(
                ReasonCode.UNIT_FORBIDDEN,
                f"the link does not carry {leg.direction} what {body.sender} says: {what}",
            )
        recipients = body.recipients if isinstance(body, EnvelopeBody) else (body.recipient,)
        elsewhere = [
            r for r in dict.fromkeys((checked.unit, *recipients))
            if (u := self.directory.units.get(r)) is not None
            and u.gateway not in (None, self.gateway)
        ]  # fmt: skip
        if elsewhere:
            raise Rejected(
                ReasonCode.UNIT_REMOTE,
                f"addressed to {', '.join(elsewhere)}, behind another gateway: the link "
                f"{self.gateway} carries nothing in transit",
            )

    async def _echo(self, leg: Leg, body: EnvelopeBody | StatusBody) -> bool:
        """A document of ours that went out, routed back by the peer to our own recipients
        of it: already delivered here, not a refusal."""
        if leg.direction != "in" or not isinstance(body, EnvelopeBody):
            return False
        async with self.pool.acquire() as conn:
            went: bool | None = await conn.fetchval(
                "SELECT true FROM gateway_outbound WHERE gateway = $1 AND message_id = $2"
                " AND kind = 'edoc' AND refused_reason IS NULL LIMIT 1",
                self.gateway, body.message_id,
            )  # fmt: skip
        return bool(went)

    async def _refuse(
        self, leg: Leg, checked: Checked, refusal: Rejected
    ) -> list[asyncio.Future[object]]:
        """Recorded, logged and counted; the sender, if the link may address it (a unit of
        the source side), hears a 02 from the addressed unit."""
        body = checked.body
        detail = refusal.message[:MAX_DESCRIPTION]
        kind = "edoc" if isinstance(body, EnvelopeBody) else "status"
        async with self.pool.acquire() as conn:
            if leg.direction == "out":
                await conn.execute(
                    "INSERT INTO gateway_outbound (gateway, message_id, recipient, kind, sender,"
                    " document_id, refused_reason, refused_detail)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    self.gateway, body.message_id, checked.unit, kind, body.sender,
                    body.document_id, refusal.reason.value, detail,
                )  # fmt: skip
            else:
                await conn.execute(
                    "INSERT INTO gateway_inbound (gateway, kind, remote_id, recipient,"
                    " message_id, sender, recipients, document_id, refused_reason,"
                    " refused_detail) VALUES ($1, $2, $3, $4, $3, $5, $6, $7, $8, $9)"
                    " ON CONFLICT DO NOTHING",
                    self.gateway, kind, body.message_id, checked.unit, body.sender,
                    [checked.unit], body.document_id, refusal.reason.value, detail,
                )  # fmt: skip
        metrics.GATEWAY_REFUSED.labels(self.gateway, leg.direction, refusal.reason.value).inc()
        self.log.warning(
            "a record refused by the link", direction=leg.direction, kind=kind,
            message_id=body.message_id, sender=body.sender, to=checked.unit,
            reason_code=refusal.reason.value, reason=detail,
        )  # fmt: skip
        reply = self.replies[leg.direction]
        speaker = reply.speaks_for.get(checked.unit)
        if refusal.reason is ReasonCode.UNIT_FORBIDDEN or kind != "edoc" or speaker is None:
            return []  # a sender not of the source side is nobody the link may address
        status = StatusBody(
            message_id=status_id(body.message_id, checked.unit, "02"),
            responds_to=body.message_id, sender=checked.unit, recipient=body.sender,
            status_code="02",
            created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
            document_id=body.document_id, reason_code=refusal.reason.value,
            description=refusal.reason.explain(detail)[:MAX_DESCRIPTION],
        )  # fmt: skip
        headers, value = speaker.seal(self.registry, status)
        with kafka.mapped_errors(f"answering a refusal of {body.message_id} failed"):
            return [
                await reply.producer.send(
                    reply.submit, value, key=checked.unit.encode(), headers=headers
                )
            ]

    async def _remember(
        self, conn: Connection, leg: Leg, checked: Checked, body: EnvelopeBody
    ) -> None:
        """Who a crossing document went to: a refusal of it as a whole names nobody."""
        if leg.direction == "out":
            await conn.execute(
                "INSERT INTO gateway_outbound (gateway, message_id, recipient, kind, sender,"
                " document_id, remote_id) VALUES ($1, $2, $3, 'edoc', $4, $5, $6)"
                " ON CONFLICT DO NOTHING",
                self.gateway, body.message_id, checked.unit, body.sender, body.document_id,
                leg.target.submit,
            )  # fmt: skip
            return
        await conn.execute(
            "INSERT INTO gateway_inbound (gateway, kind, remote_id, recipient, message_id,"
            " sender, recipients, document_id, acknowledged_at)"
            " VALUES ($1, 'edoc', $2, $3, $2, $4, $5, $6, now()) ON CONFLICT DO NOTHING",
            self.gateway, body.message_id, checked.unit, body.sender, [checked.unit],
            body.document_id,
        )  # fmt: skip

    async def _crossed(self, leg: Leg, message_id: str) -> list[str]:
        """The recipients a document crossed to, the other way, before this side refused it."""
        async with self.pool.acquire() as conn:
            if leg.direction == "in":  # our document, refused there: it went out
                rows = await conn.fetch(
                    "SELECT recipient FROM gateway_outbound WHERE gateway = $1"
                    " AND message_id = $2 AND kind = 'edoc' ORDER BY recipient",
                    self.gateway, message_id,
                )  # fmt: skip
                return [row["recipient"] for row in rows]
            rows = await conn.fetch(
                "SELECT recipient FROM gateway_inbound WHERE gateway = $1 AND kind = 'edoc'"
                " AND remote_id = $2 AND refused_reason IS NULL ORDER BY recipient",
                self.gateway, message_id,
            )  # fmt: skip
            return [row["recipient"] for row in rows]

    async def _notice(
        self, leg: Leg, checked: Checked, body: StatusBody
    ) -> list[asyncio.Future[object]]:
        """The source router's refusal, as a 02 from each refused recipient over there."""
        crossed = await self._crossed(leg, body.responds_to)
        everyone = body.message_id == notice_id(body.responds_to, "*", "02")
        refused = [
            r for r in crossed
            if everyone or body.message_id == notice_id(body.responds_to, r, "02")
        ]  # fmt: skip
        speakers = [r for r in refused if r in leg.speaks_for]
        if body.status_code != "02" or not speakers:
            reason = body.reason_code or ReasonCode.UNIT_REDIRECTED.value
            metrics.GATEWAY_REFUSED.labels(self.gateway, leg.direction, reason).inc()
            self.log.warning(
                "a router notice not handed over", direction=leg.direction,
                message_id=body.responds_to, code=body.status_code, reason_code=reason,
                refused=refused, unsigned=[r for r in refused if r not in leg.speaks_for],
            )  # fmt: skip
            return []
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        futures = []
        for recipient in speakers:
            status = StatusBody(
                message_id=status_id(body.responds_to, recipient, "02"),
                responds_to=body.responds_to, sender=recipient, recipient=body.recipient,
                status_code="02", created_at=now, document_id=body.document_id,
                reason_code=body.reason_code,
                description=(body.description or "")[:MAX_DESCRIPTION],
            )  # fmt: skip
            headers, value = leg.speaks_for[recipient].seal(self.registry, status)
            with kafka.mapped_errors(f"handing a refusal of {body.responds_to} over failed"):
                futures.append(
                    await leg.producer.send(
                        leg.target.submit, value, key=recipient.encode(), headers=headers
                    )
                )
        metrics.GATEWAY_FORWARDED.labels(self.gateway, leg.direction, "status").inc()
        self.log.info("a refusal handed over", direction=leg.direction,
                      message_id=body.responds_to, recipients=speakers,
                      reason_code=body.reason_code)  # fmt: skip
        return futures


def refuse_local_names(directory: Directory, named: Iterable[str], folder: Path) -> None:
    """A gateway's certificate names only units behind a gateway: one naming a unit of this
    exchange would let whatever the gateway submits speak as that unit."""
    local = sorted(u for u in named if (found := directory.units.get(u)) and not found.remote)
    if local:
        raise ConfigurationError(
            f"the gateway certificate in {folder} names units of this exchange: "
            + ", ".join(local),
            hint="issue the gateway a certificate naming only the units behind it",
            reason=ReasonCode.UNIT_FORBIDDEN,
        )


class TrustWatch:
    """The trust store, loaded again when its folder changes (a CA added, a CRL renewed), as
    the router does: a gateway's process runs for months, and would otherwise judge with the
    store it started with while the router judges with the new one. A folder caught half
    written keeps the store it replaces until it reads whole."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stamp = _stamp(folder)
        self._store = TrustStore.load(folder)

    def current(self) -> TrustStore:
        stamp = _stamp(self.folder)
        if stamp != self._stamp:
            try:
                self._store = TrustStore.load(self.folder)
            except LienthongError as exc:
                log.warning("the trust store did not load; the previous one is kept",
                            folder=str(self.folder), error=exc.message)  # fmt: skip
            else:
                self._stamp = stamp
                log.info("trust store loaded", folder=str(self.folder),
                         roots=len(self._store.roots), crls=len(self._store.crls))  # fmt: skip
        return self._store


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def endorsed_body(
    record: ConsumerRecord,
    unit: str,
    router_id: str,
    trust: TrustStore,
    registry: codec.Registry,
) -> tuple[Endorsement, EnvelopeBody] | None:
    """A document whose own check failed, when the router's endorsement of it for `unit`
    holds: the router judged those very bytes, so who sent it and its id can be believed
    enough to answer it (a 02), though it is not carried. None for anything else."""
    headers = list(record.headers or ())
    value = record.value or b""
    try:
        endorsed = endorsement.check(
            headers, value, unit=unit, router_id=router_id, trust=trust, registry=registry
        )
        body = open_body(registry, decode_signed(registry, codec.fingerprint_from(headers), value))
    except Rejected:
        return None
    if not isinstance(body, EnvelopeBody) or body.message_id != endorsed.message_id:
        return None
    return endorsed, body
