"""The at-least-once consume loop the router and the connector both run.

Each batch is handled, then its offsets are committed. When Kafka or PostgreSQL goes away
mid-batch (a retriable failure), the consumer rewinds to the start of the batch and tries
again with backoff; handling is idempotent, so records already done are skipped. Nothing
is committed that was not done, and nothing done is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError

from kernel import kafka
from kernel.errors import LienthongError

Batch = dict[TopicPartition, list[ConsumerRecord]]
log = structlog.get_logger(__name__)
_TRANSIENT_DATABASE = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
)


def transient(exc: BaseException) -> bool:
    """Whether a failure is the infrastructure's (rewind and retry the batch), as opposed to
    one record's (set that record aside and go on)."""
    if isinstance(exc, LienthongError):
        return exc.retriable
    return isinstance(exc, _TRANSIENT_DATABASE)


async def consume(
    consumer: AIOKafkaConsumer,
    handle: Callable[[Batch], Awaitable[None]],
    stop: asyncio.Event,
    *,
    name: str,
    max_records: int = 200,
    max_backoff: float = 30.0,
) -> None:
    backoff = 0.5
    while not stop.is_set():
        batch: Batch = {}
        try:
            with kafka.mapped_errors(f"{name}: fetching failed"):
                batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
            # An empty batch is handled too: idle time is when reloads and outbox sends happen.
            await handle(batch)
            if not batch:
                continue
            with kafka.mapped_errors(f"{name}: committing offsets failed"):
                await consumer.commit()
            backoff = 0.5
        except (LienthongError, *_TRANSIENT_DATABASE) as exc:
            if isinstance(exc, LienthongError) and not exc.retriable:
                raise
            _rewind(consumer, batch)
            log.warning("retrying after a transient failure", service=name, error=str(exc),
                        in_seconds=backoff)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, max_backoff)


def _rewind(consumer: AIOKafkaConsumer, batch: Batch) -> None:
    for partition, records in batch.items():
        with contextlib.suppress(IllegalStateError, AssertionError):
            consumer.seek(partition, records[0].offset)
