"""A whole exchange on a stack of its own: three Kafka brokers, PostgreSQL and clamd that the
fault schedule may kill, in a state dir and on ports no other test uses.

The schedules take minutes and kill servers, so they run only when asked: `-m faults`
(`make faults`, `make soak`); any other run deselects them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.directory import loader, store
from kernel import database, kafka, logs
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import dbroles
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack import stack
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import DATABASE, LocalPostgres
from signing.testpki import write_pki
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, PROVINCE, provision
from tests.faults.harness import PLANS, PORTS, Plan, Servers, free_ports, own_settings

UNITS = [PROVINCE, COMMUNE_A, COMMUNE_B]
DEPLOYMENT = "faults"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make pytest` collects tests/ whole: minutes of killed servers are not for it."""
    if "faults" in (config.option.markexpr or ""):
        return
    faults = [item for item in items if item.get_closest_marker("faults")]
    if faults:
        config.hook.pytest_deselected(items=faults)
        items[:] = [item for item in items if not item.get_closest_marker("faults")]


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("LIENTHONG_FAULT_SEED") or random.randrange(1 << 30))
    print(f"\nfault seed: {value} (LIENTHONG_FAULT_SEED={value} replays this schedule)")
    return value


@pytest.fixture
def plan() -> Plan:
    """LIENTHONG_FAULT_SCHEDULE: `ci` (the default) or `soak`; LIENTHONG_FAULT_DOCUMENTS
    overrides the number of documents (a shorter soak, a longer CI run)."""
    name = os.environ.get("LIENTHONG_FAULT_SCHEDULE") or "ci"
    chosen = PLANS[name]
    documents = os.environ.get("LIENTHONG_FAULT_DOCUMENTS")
    return dataclasses.replace(chosen, documents=int(documents)) if documents else chosen


@dataclasses.dataclass(frozen=True, slots=True)
class Faulty:
    """The exchange under faults: its settings, servers and database roles' DSNs."""

    settings: Settings
    servers: Servers
    connector_dsn: str
    reporting_dsn: str
    logs: Path


@pytest.fixture
async def faulty(settings: Settings, seed: int) -> AsyncIterator[Faulty]:
    # A line per document handed in would bury the schedule's report.
    logs.configure(dataclasses.replace(settings, log_level="WARNING"))
    # Not under pytest's basetemp, which other sessions on the machine rotate away: the
    # processes' logs stay for a failure to be read (the test removes them when it passes).
    root = Path(tempfile.mkdtemp(prefix=f"lienthong-faults-{seed}-"))
    own = own_settings(settings, root, free_ports(PORTS, seed))
    shared = LocalPostgres(settings).data_dir
    assert LocalPostgres(own).data_dir != shared, "the harness would kill the shared PostgreSQL"
    try:
        began = time.monotonic()
        # The cluster first, with a longer wait than `up` gives: three JVMs on two cores.
        await LocalKafka(own).start(timeout=240)
        found, _ = await stack.up(own)
        print(f"own stack up in {time.monotonic() - began:.0f}s under {own.state_dir}")
        directory = loader.load(SAMPLE_DIRECTORY)
        write_pki(
            own.keys_dir, [(u, directory.units[u].name) for u in UNITS], router_id=own.router_id
        )
        topics = Topics(own.topic_prefix, own.max_message_bytes)
        specs = topics.specs(UNITS, submit_partitions=3)
        await kafka.ensure_topics(found.kafka, specs)
        await provision(own, found.kafka, directory, UNITS)
        assert found.owner_database_url
        assert found.database_roles_dir
        assert found.reporting_database_url
        admin = await database.connect(found.database_url.reveal())
        owner = await database.connect(found.owner_database_url.reveal())
        try:
            # The devstack trades durability for speed (synchronous_commit=off): an immediate
            # shutdown would lose commits already acknowledged, which no server configured
            # for production does. This database's sessions commit durably.
            await admin.execute(f'ALTER DATABASE "{DATABASE}" SET synchronous_commit = on')
            await store.save(owner, directory)
            dsn = await dbroles.create_connector_role(
                admin, owner, DEPLOYMENT, UNITS, base=found.database_url.reveal(),
                directory=found.database_roles_dir,
            )  # fmt: skip
        finally:
            await owner.close()
            await admin.close()
        log_dir = root / "logs"
        log_dir.mkdir()
        print(f"processes' logs in {log_dir}")
        yield Faulty(
            settings=dataclasses.replace(own, connector_name=DEPLOYMENT),
            servers=Servers(own, [s.name for s in specs]),
            connector_dsn=dsn.reveal(),
            reporting_dsn=found.reporting_database_url.reveal(),
            logs=log_dir,
        )
    finally:
        stack.down(own, wipe=True)
        _tidy(root)


def _tidy(root: Path) -> None:
    """All but the logs, and those too once the passing test removed them."""
    for entry in root.iterdir():
        if entry.name != "logs":
            shutil.rmtree(entry)
    with contextlib.suppress(OSError):
        root.rmdir()
