"""The fault schedule: while documents flow from one unit to two others, SIGKILL and restart
routers, connector processes, the broker leading the submit partitions, PostgreSQL
(immediate shutdown) and clamd, in a seeded order; then `lienthong reconcile` and the
registers themselves must show every accepted document registered once at each recipient,
numbered without a gap, and the ledger agreeing.

Two routers and two connector processes run, as a province runs them: the sending unit's
(its statuses come back to it) and the receiving units'. Documents are handed in as
`lienthong send` does, by a connector in this process that does not consume; a send that
fails while a server is down is retried with the same message id, as a client would.
A process that exits by itself is restarted (a supervisor's job) and reported.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import itertools
import json
import shutil
import sys
import time
import uuid

import pytest

from connectors.service import Connector
from kernel import database
from lienthong.commands.exchange import unit_configs
from schemas import edxml
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, PROVINCE
from tests.faults.conftest import Faulty
from tests.faults.harness import Fault, Kind, Plan, Service, environment, schedule

pytestmark = [
    pytest.mark.faults,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.timeout(4 * 3600),
]
RECIPIENTS = [COMMUNE_A, COMMUNE_B]
SENDERS = 4
"""Documents handed in at once: enough to keep two routers busy on two cores."""
GIVE_UP = 600.0
"""Seconds one document may keep failing before the harness calls it a hang."""


@dataclasses.dataclass(frozen=True, slots=True)
class Injected:
    what: str
    at: int
    down: float
    killed: datetime.datetime
    back: datetime.datetime

    def __str__(self) -> str:
        took = (self.back - self.killed).total_seconds()
        killed = f"  at {self.at} accepted: {self.what} killed, down {self.down}s"
        return f"{killed}, back in {took:.1f}s"


@dataclasses.dataclass
class Run:
    """What happened, for the report printed at the end whatever the outcome."""

    accepted: list[str] = dataclasses.field(default_factory=list)
    retries: int = 0
    injected: list[Injected] = dataclasses.field(default_factory=list)
    exits: list[str] = dataclasses.field(default_factory=list)
    """Processes that exited by themselves after they served: a failure."""
    failed_starts: list[str] = dataclasses.field(default_factory=list)
    """Processes that exited while starting (a server they need was down): systemd's
    Restart=on-failure starts them again, as the supervisor here does."""
    progress: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)

    async def accept(self, message_id: str) -> None:
        async with self.progress:
            self.accepted.append(message_id)
            self.progress.notify_all()

    async def reached(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: len(self.accepted) >= count)


async def test_faults_lose_and_double_nothing(faulty: Faulty, seed: int, plan: Plan) -> None:
    faults = schedule(seed, plan)
    kinds = collections.Counter(f.kind.value for f in faults)
    print(f"schedule: {plan.documents} documents, {len(faults)} faults {dict(kinds)}")
    for fault in faults:
        print(f"  at {fault.at}: {fault.kind} #{fault.target}, down {fault.down}s")
    env = environment(faulty.settings)
    api = faulty.settings.connector_port
    routers = [
        Service(
            f"router-{n}",
            ["router", "run"],
            env,
            faulty.logs / f"router-{n}.log",
            ready="router started",
        )
        for n in (1, 2)
    ]
    connectors = [
        Service(
            f"connector-{name}",
            ["connector", "run", "--unit", *units, "--port", str(api + n)],
            env,
            faulty.logs / f"connector-{name}.log",
            ready="connector api",
        )
        for n, (name, units) in enumerate([("sender", [PROVINCE]), ("receiver", RECIPIENTS)])
    ]
    services = [*routers, *connectors]
    run = Run()
    background: list[asyncio.Task[None]] = []
    try:
        for service in services:
            service.start()
        for service in services:
            await service.until_ready()
        sender = Connector(
            faulty.settings, [PROVINCE], kafka_configs=unit_configs(faulty.settings, [PROVINCE]),
            dsn=faulty.connector_dsn,
        )  # fmt: skip
        await sender.start(consume=False)
        try:
            began = time.monotonic()
            supervisor = asyncio.create_task(_supervise(services, run))
            injector = asyncio.create_task(_inject(faulty, faults, routers, connectors, run))
            background += [supervisor, injector]
            await asyncio.gather(
                *(_send(sender, plan.documents, run, worker) for worker in range(SENDERS))
            )
            handed_in = time.monotonic() - began
            print(
                f"{plan.documents} documents accepted in {handed_in:.0f}s "
                f"({plan.documents / handed_in:.1f}/s), {run.retries} sends retried"
            )
            await injector
            settled = await _settle(faulty, plan.documents)
            took = time.monotonic() - began
            print(
                f"all faults recovered; {'settled' if settled else 'NOT settled'} {took:.0f}s "
                f"after the first document ({plan.documents / took:.1f} documents/s)"
            )
            supervisor.cancel()
            code, found = await _reconcile(faulty)
        finally:
            await sender.stop()
    finally:
        # Nothing may kill or restart anything once the stack is being taken down.
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        print("\n".join(["faults injected:", *map(str, run.injected)]))
        print("\n".join(["processes that exited while serving:", *(run.exits or ["  none"])]))
        print("\n".join(["exits while starting:", *(run.failed_starts or ["  none"])]))
        stopped = {service.name: service.stop() for service in services}
    for d in found:
        print(f"  {d['kind']}  {d['unit']}  {d['message_id']}  {d['detail']}")
    await _stalls(faulty, run.injected)
    await _check_books(faulty, run.accepted)
    assert (code, found) == (0, []), f"reconcile found {len(found)} discrepancies"
    assert not run.exits, "a router or connector exited instead of waiting for the fault to pass"
    assert set(stopped.values()) == {0}, f"not every process stopped cleanly: {stopped}"
    shutil.rmtree(faulty.logs)


def _packet(index: int) -> bytes:
    """The fixture document with a DocumentId of its own (a document is sent once)."""
    packet = edxml.parse(document(PROVINCE, RECIPIENTS))
    assert isinstance(packet, edxml.DocumentPacket)
    numbered = dataclasses.replace(packet, document_id=f"{PROVINCE},2026/11/20,{index}/F")
    return edxml.write(numbered)


async def _send(sender: Connector, documents: int, run: Run, worker: int) -> None:
    """Hand in documents worker, worker + SENDERS, …; each until the sender's register has
    it, retrying with its message id fixed so that a commit whose answer was lost is not
    sent twice."""
    for index in range(worker, documents, SENDERS):
        message_id = str(uuid.uuid4())
        packet = _packet(index)
        deadline = time.monotonic() + GIVE_UP
        while True:
            try:
                await sender.send(PROVINCE, packet, RECIPIENTS, message_id=message_id)
                break
            except Exception as exc:  # whatever a dead server makes it raise
                if await _registered(sender, message_id):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"document {index} failed for {GIVE_UP:.0f}s") from exc
                run.retries += 1
                await asyncio.sleep(0.5)
        await run.accept(message_id)


async def _registered(sender: Connector, message_id: str) -> bool:
    try:
        async with sender.pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM outgoing_register WHERE message_id = $1", message_id
            )
    except Exception:  # the database may still be down: not known yet
        return False
    return found is not None


async def _inject(
    faulty: Faulty,
    faults: list[Fault],
    routers: list[Service],
    connectors: list[Service],
    run: Run,
) -> None:
    """Each fault once its number of documents is accepted, after the last one recovered."""
    servers = faulty.servers
    for fault in faults:
        await run.reached(fault.at)
        at, killed = len(run.accepted), datetime.datetime.now(datetime.UTC)
        what = fault.kind.value
        if fault.kind in (Kind.ROUTER, Kind.CONNECTOR):
            service = (routers if fault.kind is Kind.ROUTER else connectors)[fault.target]
            what = service.name
            service.kill()
            await asyncio.sleep(fault.down)
            service.start()
            await service.until_ready()
        elif fault.kind is Kind.BROKER:
            node = await servers.submit_leader()
            what = f"broker {node} (leads the submit partitions)"
            await servers.kill_broker(node)
            await asyncio.sleep(fault.down)
            await servers.start_broker(node)
        elif fault.kind is Kind.POSTGRES:
            await servers.kill_postgres()
            await asyncio.sleep(fault.down)
            await servers.start_postgres()
        else:
            await servers.kill_clamd()
            await asyncio.sleep(fault.down)
            await servers.start_clamd()
        injected = Injected(what, at, fault.down, killed, datetime.datetime.now(datetime.UTC))
        print(injected)
        run.injected.append(injected)


async def _supervise(services: list[Service], run: Run) -> None:
    """Restart a process that exited by itself, as systemd would, and note it."""
    while True:
        for service in services:
            code = service.exited()
            if code is not None:
                noted = run.exits if service.ready() else run.failed_starts
                noted.append(f"  {service.name} exited {code}; its log ends:\n{service.tail()}")
                service.start()
        await asyncio.sleep(0.5)


async def _settle(faulty: Faulty, documents: int, timeout: float = 600.0) -> bool:
    """Until every delivery is answered 01 in the ledger and heard by its sender, and no
    outbox holds anything: True, or False after `timeout` (reconcile then says why)."""
    wanted = documents * len(RECIPIENTS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = await database.connect(faulty.reporting_dsn)
            try:
                row = await conn.fetchrow(
                    "SELECT (SELECT count(*) FROM deliveries WHERE state = '01') AS answered,"
                    " (SELECT count(DISTINCT (message_id, recipient)) FROM outgoing_status"
                    "  WHERE status_code = '01') AS heard,"
                    " (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent"
                )
            finally:
                await conn.close()
        except Exception:  # a last restart may still be recovering
            row = None
        if row and row["answered"] == row["heard"] == wanted and row["unsent"] == 0:
            return True
        await asyncio.sleep(1.0)
    print(f"not settled after {timeout:.0f}s: {dict(row) if row else 'no answer'}")
    return False


async def _reconcile(faulty: Faulty) -> tuple[int, list[dict[str, str]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lienthong", "reconcile", "--json", "--grace", "0",
        env=environment(faulty.settings), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=600)
    assert process.returncode in (0, 1), err.decode()
    assert out, f"reconcile exited {process.returncode} and said nothing: {err.decode()}"
    found: list[dict[str, str]] = json.loads(out)["discrepancies"]
    print(f"lienthong reconcile: exit {process.returncode}, {len(found)} discrepancies")
    return process.returncode, found


async def _check_books(faulty: Faulty, accepted: list[str]) -> None:
    """The registers and the ledger read directly, not only through reconcile's eyes."""
    conn = await database.connect(faulty.reporting_dsn)
    try:
        outgoing = await conn.fetch(
            "SELECT number, message_id FROM outgoing_register WHERE unit = $1 ORDER BY number",
            PROVINCE,
        )
        incoming = {
            unit: await conn.fetch(
                "SELECT number, message_id FROM incoming_register WHERE unit = $1 ORDER BY number",
                unit,
            )
            for unit in RECIPIENTS
        }
        routed = await conn.fetch(
            "SELECT m.message_id, d.recipient, d.state FROM messages m"
            " JOIN deliveries d USING (message_id)"
            " WHERE m.kind = 'document' AND m.verdict = 'routed'"
        )
    finally:
        await conn.close()
    everything = list(range(1, len(accepted) + 1))
    assert [r["number"] for r in outgoing] == everything, "the outgoing register has gaps"
    assert sorted(r["message_id"] for r in outgoing) == sorted(accepted)
    for unit, rows in incoming.items():
        assert [r["number"] for r in rows] == everything, f"{unit}'s số đến has gaps"
        assert sorted(r["message_id"] for r in rows) == sorted(accepted), f"{unit}: lost or doubled"
    for unit in RECIPIENTS:
        mine = [r for r in routed if r["recipient"] == unit]
        assert sorted(r["message_id"] for r in mine) == sorted(accepted), f"ledger for {unit}"
        assert {r["state"] for r in mine} == {"01"}, f"a receipt from {unit} is missing"


async def _stalls(faulty: Faulty, injected: list[Injected]) -> None:
    """How long registrations paused around each fault (from the kill to 15 s after the
    restart, or to the next kill), beside the longest pause before the first fault: printed,
    never asserted."""
    conn = await database.connect(faulty.reporting_dsn)
    try:
        moments = [
            r["received_at"]
            for r in await conn.fetch("SELECT received_at FROM incoming_register ORDER BY 1")
        ]
    finally:
        await conn.close()
    if not injected or not moments:
        return
    calm = [m for m in moments if m < injected[0].killed]
    print(f"longest pause in registrations before the first fault: {_longest(calm):.1f}s")
    print("and from each kill to 15 s after its restart (or the next kill):")
    for fault, following in zip(injected, [*injected[1:], None], strict=True):
        until = fault.back + datetime.timedelta(seconds=15)
        if following is not None:
            until = min(until, following.killed)
        before = [m for m in moments if m < fault.killed][-1:]
        after = [m for m in moments if m > until][:1]
        window = [m for m in moments if fault.killed <= m <= until]
        if not before or not after:
            print(f"  {fault.what}: documents were not flowing")
            continue
        print(f"  {fault.what}: {_longest([*before, *window, until]):.1f}s")


def _longest(moments: list[datetime.datetime]) -> float:
    return max(((b - a).total_seconds() for a, b in itertools.pairwise(moments)), default=0.0)
