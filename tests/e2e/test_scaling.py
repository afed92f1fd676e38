"""Several routers share the submit partitions; thousands of unit topics are created in batches."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from broker import provisioning
from broker.directory import Directory, Unit
from broker.service import Router
from kernel import kafka, metrics
from kernel.topics import Topics
from lienthong.devstack.stack import Endpoints
from tests.documents import document
from tests.e2e.conftest import COMMUNE_A, COMMUNE_B, DEPARTMENT, PROVINCE, Exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


async def test_two_routers_share_the_work_and_route_each_document_once(exchange: Exchange) -> None:
    config = await provisioning.router_client(
        exchange.settings, exchange.endpoints.kafka, exchange.topics, "second"
    )
    second = Router(exchange.settings, kafka_config=config, dsn=exchange.dsn)
    await second.start()
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    try:
        await exchange.until(
            lambda: _both_assigned(exchange.router, second), what="both routers assigned"
        )
        sent = []
        for sender in (PROVINCE, DEPARTMENT, COMMUNE_B) * 8:
            body, _ = await exchange.connector.send(
                sender, document(sender, [COMMUNE_A]), [COMMUNE_A]
            )
            sent.append(body.message_id)
        rows = await exchange.until(
            lambda: _registered(exchange, len(sent)), what="all registered", timeout=60
        )
    finally:
        stop.set()
        await task
        await second.stop()
    assert sorted(r["message_id"] for r in rows) == sorted(sent)
    assert sorted(r["number"] for r in rows) == list(range(1, len(sent) + 1))


async def _both_assigned(first: Router, second: Router) -> bool:
    return bool(first.consumer.assignment()) and bool(second.consumer.assignment())


async def _registered(exchange: Exchange, count: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch(
        "SELECT number, message_id FROM incoming_register WHERE unit = $1", COMMUNE_A
    )
    return rows if len(rows) >= count else []


def _round_steps() -> dict[str, float]:
    """How many times each step of a router round was timed."""
    return {
        sample.labels["step"]: sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "lienthong_router_round_step_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    }


async def test_routing_is_counted_in_metrics(exchange: Exchange) -> None:
    before = metrics.ROUTED.labels("document")._value.get()
    steps = _round_steps()
    await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A])
    await exchange.until(
        lambda: _above(metrics.ROUTED.labels("document")._value.get(), before), what="counted"
    )
    text = metrics.generate_latest(metrics.REGISTRY).decode()
    assert 'lienthong_routed_total{kind="document"}' in text
    assert "lienthong_end_to_end_seconds_bucket" in text
    assert 'lienthong_consumer_lag{group="' in text
    timed = _round_steps()
    for step in ("ledger_read", "decide", "write", "produce", "mark_routed"):
        assert timed[step] > steps.get(step, 0), step


async def _above(value: float, floor: float) -> bool:
    return value > floor


@pytest.mark.timeout(300)
async def test_topics_for_thousands_of_units_in_batches(services: Endpoints) -> None:
    topics = Topics(f"s{uuid.uuid4().hex[:8]}.")
    units = Directory(
        Unit(f"{i // 100:03d}.{i % 100:02d}.00.H99", f"Xã {i}", "commune") for i in range(2000)
    )
    specs = topics.specs(sorted(units.units), submit_partitions=3)
    try:
        started = time.monotonic()
        created: list[str] = []
        for start in range(0, len(specs), 500):
            created += await kafka.ensure_topics(services.kafka, specs[start : start + 500])
        first_pass = time.monotonic() - started
        again = await kafka.ensure_topics(services.kafka, specs)
        async with kafka.admin_client(services.kafka) as client:
            existing = set(await client.list_topics())
    finally:
        await kafka.delete_topics(services.kafka, [s.name for s in specs])
    assert len(created) == 2000 + 3  # units, submit and its urgent lane, dead letters
    assert again == []
    assert not {s.name for s in specs} - existing
    print(f"created 2,002 topics in {first_pass:.1f}s")
