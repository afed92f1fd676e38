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
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError

from kernel import kafka, metrics
from kernel.errors import AccessDenied, ConfigurationError, LienthongError
from kernel.reasons import ReasonCode

Batch = dict[TopicPartition, list[ConsumerRecord]]
log = structlog.get_logger(__name__)
_TRANSIENT_DATABASE = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
)


# SQLSTATE classes of a database restarting, failing over or overloaded, not of a record:
# connection (08), transaction rollback (40: deadlock, serialization), resources (53),
# operator intervention (57: shutdown, cancel), read-only transaction, lock not available.
_TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "25006", "55P03")


def transient(exc: BaseException) -> bool:
    """Whether a failure is the infrastructure's (rewind and retry the batch), as opposed to
    one record's (set that record aside and go on)."""
    if isinstance(exc, LienthongError):
        return exc.retriable
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "").startswith(_TRANSIENT_SQLSTATES)
    return isinstance(exc, _TRANSIENT_DATABASE)


def fatal(exc: BaseException) -> bool:
    """A failure that is the operator's to fix (credentials, rights, settings): the service
    stops and says so rather than blaming record after record for it."""
    return isinstance(exc, AccessDenied | ConfigurationError)


def contain(exc: BaseException) -> None:
    """Called on whatever one record provoked: re-raises a transient failure (the batch is
    rewound) or a fatal one (the service stops); anything else stays that record's."""
    if transient(exc) or fatal(exc):
        raise exc


def internal_error(
    service: str, exc: BaseException, event: str, logger: Any = log, **where: object
) -> str:
    """A record's unexpected failure counted (`lienthong_internal_errors_total`) and logged
    in full; returns what may be told about it: its type and message, never a traceback."""
    name = type(exc).__name__
    metrics.INTERNAL_ERRORS.labels(service, name).inc()
    logger.error(event, error_type=name, exc_info=exc, **where)
    return f"{name}: {str(exc)[:500]}"


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
            try:
                with kafka.mapped_errors(f"{name}: fetching failed"):
                    batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
            except UnicodeDecodeError:
                await _skip_undecodable(consumer, name)
                continue
            # An empty batch is handled too: idle time is when reloads and outbox sends happen.
            await handle(batch)
            if not batch:
                continue
            with kafka.mapped_errors(f"{name}: committing offsets failed"):
                await consumer.commit()
            backoff = 0.5
        except (LienthongError, asyncpg.PostgresError, *_TRANSIENT_DATABASE) as exc:
            if not transient(exc):
                raise
            _rewind(consumer, batch)
            log.warning("retrying after a transient failure", service=name, error=str(exc),
                        in_seconds=backoff)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, max_backoff)


async def _skip_undecodable(consumer: AIOKafkaConsumer, name: str) -> None:
    """Step past a record aiokafka cannot decode (a header key that is not UTF-8, which
    only a crafted producer writes): without this, every fetch raises on it again and the
    partition, the whole submit topic for the router, stops for good. Each partition is
    fetched alone, one record, to find the one that raises; that record (and, as the batch
    is read again from its start, the rest of its producer's batch, one fetch each) is
    skipped, logged with its offset and counted; the good partitions are rewound."""
    for partition in sorted(consumer.assignment()):
        position = await consumer.position(partition)
        try:
            await consumer.getmany(partition, timeout_ms=100, max_records=1)
        except UnicodeDecodeError as exc:
            consumer.seek(partition, position + 1)
            internal_error(
                name, exc, "an undecodable record skipped", topic=partition.topic,
                partition=partition.partition, offset=position,
                reason=ReasonCode.ENVELOPE_MALFORMED.value,
            )  # fmt: skip
            return
        consumer.seek(partition, position)


def _rewind(consumer: AIOKafkaConsumer, batch: Batch) -> None:
    for partition, records in batch.items():
        with contextlib.suppress(IllegalStateError, AssertionError):
            consumer.seek(partition, records[0].offset)
