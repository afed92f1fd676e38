"""The fault harness's pieces: a stack of its own, the processes it kills, and the schedule.

Everything killed here belongs to this harness: a state dir, PostgreSQL cluster and ports of
its own (never the shared `lienthong dev up` stack other tests use), and every pid is
checked against a path of that state dir before it is signalled.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from kernel import kafka
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong.devstack import processes
from lienthong.devstack.clamd import LocalClamd
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import LocalPostgres
from tests.ports import free_range

PORTS = 16
"""Kafka's nine, PostgreSQL, clamd, metrics, and one API port per connector process."""


class Kind(enum.StrEnum):
    ROUTER = "router"
    CONNECTOR = "connector"
    BROKER = "broker"
    POSTGRES = "postgres"
    CLAMD = "clamd"


DOWN = {
    Kind.ROUTER: 3.0,
    Kind.CONNECTOR: 3.0,
    Kind.BROKER: 15.0,
    Kind.POSTGRES: 8.0,
    Kind.CLAMD: 8.0,
}
"""The longest each kind stays down before its restart: a broker long enough to be fenced."""


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    documents: int
    each: int
    """How many times each kind of fault is injected."""


PLANS = {"ci": Plan(documents=2000, each=1), "soak": Plan(documents=10_000, each=4)}


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    at: int
    """Injected once this many documents are accepted."""
    kind: Kind
    target: int
    """Which of the two routers or connector processes (ignored for the servers)."""
    down: float
    """Seconds between the kill and the restart."""


def schedule(seed: int, plan: Plan) -> list[Fault]:
    """Every kind `plan.each` times, in a seeded order, over the first 90% of the documents,
    so that the last recovery still happens under load."""
    rng = random.Random(seed)
    kinds = [kind for kind in Kind for _ in range(plan.each)]
    rng.shuffle(kinds)
    ats = sorted(rng.sample(range(plan.documents // 20, plan.documents * 9 // 10), len(kinds)))
    return [
        Fault(at, kind, rng.randrange(2), round(rng.uniform(0.2, DOWN[kind]), 1))
        for at, kind in zip(ats, kinds, strict=True)
    ]


def free_ports(count: int, seed: int) -> int:
    """The first of `count` consecutive free ports, from a seeded start away from the
    devstack's and test_cluster.py's, so parallel runs rarely race for one range."""
    return free_range(
        count, start=40_000 + random.Random(seed).randrange(0, 15_000), step=count + 7
    )


def own_settings(base: Settings, root: Path, ports: int) -> Settings:
    """Settings that share nothing with the session's stack but the jar cache."""
    return dataclasses.replace(
        base,
        environment="production",
        state_dir=root / "state",
        kafka_brokers=3,
        kafka_cluster_port=ports,
        kafka_bootstrap=None,
        kafka_clients=None,
        kafka_client_config=None,
        database_url=None,
        database_schema="public",
        postgres_port=ports + 9,
        clamd=None,
        clamd_port=ports + 10,
        metrics_port=ports + 11,
        connector_port=ports + 12,
        pki_dir=root / "pki",
        trust_dir=None,
        claims=root / "claims",
        topic_prefix="lienthong.",
        connector_name=None,
        job_workers=1,
    )


def environment(settings: Settings) -> dict[str, str]:
    """The environment a `lienthong` process of this stack runs with: none of the caller's
    LIENTHONG_ variables, which may point at the shared stack. INFO: readiness is read from
    the log."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    s = settings
    own = {
        "ENV": s.environment,
        "LOG_LEVEL": "INFO",
        "STATE_DIR": str(s.state_dir),
        "CACHE_DIR": str(s.cache_dir),
        "KAFKA_BROKERS": str(s.kafka_brokers),
        "KAFKA_CLUSTER_PORT": str(s.kafka_cluster_port),
        "POSTGRES_PORT": str(s.postgres_port),
        "CLAMD_PORT": str(s.clamd_port),
        "METRICS_PORT": str(s.metrics_port),
        "CONNECTOR_PORT": str(s.connector_port),
        "PKI_DIR": str(s.keys_dir),
        "CLAIMS": str(s.claims_dir),
        "TOPIC_PREFIX": s.topic_prefix,
        "JOB_WORKERS": str(s.job_workers),
        "CONNECTOR_NAME": s.connector_name or "",
        **({"POSTGRES_BIN": str(s.postgres_bin)} if s.postgres_bin else {}),
    }
    return {**kept, **{f"LIENTHONG_{k}": v for k, v in own.items()}}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def check_ours(pid: int, marker: str) -> None:
    """Refuse to signal a process whose command line does not name this stack's files."""
    cmdline = _cmdline(pid)
    if marker not in cmdline:
        raise AssertionError(f"pid {pid} is not this harness's ({marker!r} not in {cmdline!r})")


async def until_gone(pid: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while processes.alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (pid {pid}) still runs {timeout:.0f}s after SIGKILL")
        await asyncio.sleep(0.1)


class Service:
    """A `lienthong … run` process in a session of its own, killed whole (its job workers
    too, as a crashed host would lose them) and started again at will."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log: Path, *, ready: str
    ) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.marker = ready
        """The log event that says it serves (logged at INFO)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._since = 0
        self._ready = False

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1} at {time.time():.1f}\n".encode())
            out.flush()
            self._since, self._ready = out.tell(), False
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lienthong", *self.args],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def ready(self) -> bool:
        """Whether it logged its marker since its last start (it then stays ready)."""
        if not self._ready:
            with self.log.open("rb") as log:
                log.seek(self._since)
                self._ready = self.marker.encode() in log.read()
        return self._ready

    async def until_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")
            await asyncio.sleep(0.2)

    def exited(self) -> int | None:
        """Its exit code if it exited by itself (not killed here); None while it runs."""
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        process = self.process
        assert process is not None, f"{self.name} was never started"
        assert process.poll() is None, f"{self.name} is not running"
        assert os.getpgid(process.pid) == process.pid, f"{self.name} leads no group of its own"
        check_ours(process.pid, "lienthong")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.process = None  # down on purpose: not an exit for the supervisor to see

    def stop(self) -> int | None:
        """SIGTERM (it drains and commits), SIGKILL after 30 s; its exit code."""
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        return processes.tail(self.log, lines)


class Servers:
    """Kills and restarts this stack's own Kafka nodes, PostgreSQL and clamd."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.settings = settings
        self.kafka = LocalKafka(settings)
        self.postgres = LocalPostgres(settings)
        self.clamd = LocalClamd(settings)
        self.topics = topics

    async def submit_leader(self) -> int:
        """The node leading most of the submit topic's partitions."""
        async with kafka.admin_client(self.kafka.admin_config()) as client:
            (described,) = await client.describe_topics([Topics(self.settings.topic_prefix).submit])
        leaders = collections.Counter(
            int(p["leader"]) for p in described["partitions"] if int(p["leader"]) >= 0
        )
        return leaders.most_common(1)[0][0]

    async def kill_broker(self, node_id: int) -> None:
        node = next(n for n in self.kafka.nodes if n.id == node_id)
        pid = self.kafka.node_pid(node)
        assert pid is not None, f"Kafka node {node_id} is not running"
        check_ours(pid, str(node.config))
        os.kill(pid, signal.SIGKILL)
        await until_gone(pid, f"Kafka node {node_id}")

    async def start_broker(self, node_id: int) -> None:
        await self.kafka.start(node=node_id, timeout=240)
        await self.until_replicated()

    async def until_replicated(self, timeout: float = 240.0) -> None:
        """Until every partition of the exchange's topics has its three replicas in sync:
        before that, a second broker lost would stop writes (by design), not test them."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with kafka.admin_client(self.kafka.admin_config()) as client:
                    described = await client.describe_topics(self.topics)
                if all(len(p["isr"]) == 3 for t in described for p in t["partitions"]):
                    return
            except Exception as exc:  # a cluster still electing answers oddly
                last = repr(exc)
            else:
                last = "partitions under-replicated"
            if time.monotonic() > deadline:
                raise AssertionError(f"not fully replicated after {timeout:.0f}s: {last}")
            await asyncio.sleep(1.0)

    async def kill_postgres(self) -> None:
        """An immediate shutdown: no checkpoint, every backend gone, crash recovery at start."""
        pid = self.postgres.pid()
        assert pid is not None, "PostgreSQL is not running"
        check_ours(pid, str(self.postgres.data_dir))
        pg_ctl = str(self.postgres.bin_dir() / "pg_ctl")
        command = [*self.postgres.run_as, pg_ctl, "-D", str(self.postgres.data_dir)]
        result = await asyncio.to_thread(
            subprocess.run,
            [*command, "-m", "immediate", "-w", "stop"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"pg_ctl stop -m immediate: {result.stderr}"
        await until_gone(pid, "PostgreSQL")

    async def start_postgres(self) -> None:
        await self.postgres.start()

    async def kill_clamd(self) -> None:
        pid = self.clamd.pid()
        assert pid is not None, "clamd is not running"
        check_ours(pid, str(self.clamd.config))
        os.kill(pid, signal.SIGKILL)
        await until_gone(pid, "clamd")

    async def start_clamd(self) -> None:
        await self.clamd.start()
