"""A Kafka restart mid-exchange: the services reconnect, the outbox sends what waited, and
every document is registered once. Runs on a Kafka of its own so the others are undisturbed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kernel.settings import Settings
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.stack import Endpoints
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange, running_exchange
from tests.paths import FIXTURES

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DOCUMENT = (FIXTURES / "edxml" / "document.edxml").read_bytes()


@pytest.fixture
async def own_kafka(
    settings: Settings, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[LocalKafka]:
    local = LocalKafka(
        dataclasses.replace(
            settings,
            state_dir=tmp_path / "kafka-state",
            kafka_port=unused_tcp_port_factory(),
            kafka_controller_port=unused_tcp_port_factory(),
            kafka_bootstrap=None,
        )
    )
    await local.start()
    try:
        yield local
    finally:
        local.stop()


async def _registered(exchange: Exchange, count: int) -> list[dict[str, Any]]:
    rows = await exchange.fetch(
        "SELECT number, message_id FROM incoming_register WHERE unit = $1 ORDER BY number",
        COMMUNE_A,
    )
    return rows if len(rows) >= count else []


@pytest.mark.timeout(300)
async def test_documents_survive_a_broker_restart(
    settings: Settings, services: Endpoints, own_kafka: LocalKafka, tmp_path: Path
) -> None:
    async with running_exchange(
        settings, dataclasses.replace(services, kafka=own_kafka.admin_config()), tmp_path
    ) as exchange:
        before = [await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A]) for _ in range(3)]
        await exchange.until(lambda: _registered(exchange, 3), what="before the restart")

        own_kafka.stop()
        sending = asyncio.gather(
            *(exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A]) for _ in range(3))
        )
        await asyncio.sleep(3)
        await own_kafka.start()
        during = await asyncio.wait_for(sending, timeout=120)
        after = [await exchange.connector.send(PROVINCE, DOCUMENT, [COMMUNE_A]) for _ in range(3)]

        rows = await exchange.until(
            lambda: _registered(exchange, 9), what="all nine registered", timeout=120
        )
        await asyncio.sleep(2)  # anything duplicated would arrive by now
        rows = await _registered(exchange, 9)
    sent = sorted(body.message_id for body, _ in [*before, *during, *after])
    assert sorted(r["message_id"] for r in rows) == sent
    assert [r["number"] for r in rows] == list(range(1, 10))
