"""Kafka helpers: the one place aiokafka's errors become ours.

Topic creation is idempotent (an existing topic is success), because `topics sync`, the
devstack and the tests all create topics that may already be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kernel.errors import KafkaUnavailable

_TOPIC_ALREADY_EXISTS = 36
_NO_ERROR = 0


@dataclasses.dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 1
    replication_factor: int = 1
    configs: dict[str, str] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Turn aiokafka's errors into `KafkaUnavailable`, keeping their `retriable` flag."""
    try:
        yield
    except kafka_errors.KafkaError as exc:
        error = KafkaUnavailable(f"{what}: {type(exc).__name__}: {exc}")
        error.retriable = bool(getattr(exc, "retriable", False)) or isinstance(
            exc, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError
        )
        raise error from exc


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, *, request_timeout_ms: int = 10_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=request_timeout_ms,
        client_id="lienthong-admin",
    )
    with mapped_errors(f"cannot reach Kafka at {bootstrap}"):
        await client.start()
    try:
        yield client
    finally:
        await client.close()


async def broker_count(bootstrap: str) -> int:
    """Ask the cluster for its metadata: the real sign that a broker serves requests."""
    async with admin_client(bootstrap) as client:
        with mapped_errors("metadata request failed"):
            cluster = await client.describe_cluster()
    return len(cluster["brokers"])


async def wait_until_ready(bootstrap: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if await broker_count(bootstrap) > 0:
                return
        except KafkaUnavailable as exc:
            last = exc
        await asyncio.sleep(0.5)
    raise KafkaUnavailable(
        f"Kafka at {bootstrap} did not answer metadata requests within {timeout:.0f}s"
        + (f" (last error: {last.message})" if isinstance(last, KafkaUnavailable) else ""),
        hint="check that the broker runs (`lienthong dev status`) and that the address is right",
    )


async def ensure_topics(
    bootstrap: str, topics: Sequence[TopicSpec], *, visible_within: float = 60.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now.

    Returns once the broker's metadata lists them (it trails the controller by a moment),
    so a caller can produce to them straight away.
    """
    if not topics:
        return []
    async with admin_client(bootstrap) as client:
        with mapped_errors("listing topics failed"):
            existing = set(await client.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        with mapped_errors("creating topics failed"):
            response = await client.create_topics(
                [
                    NewTopic(
                        name=t.name,
                        num_partitions=t.partitions,
                        replication_factor=t.replication_factor,
                        topic_configs=t.configs,
                    )
                    for t in missing
                ]
            )
    created: list[str] = []
    for topic_error in response.topic_errors:
        name, code = topic_error[0], topic_error[1]
        if code == _NO_ERROR:
            created.append(name)
        elif code != _TOPIC_ALREADY_EXISTS:
            message = topic_error[2] if len(topic_error) > 2 else ""
            raise KafkaUnavailable(f"creating topic {name} failed with error {code}: {message}")
    await _until_listed(bootstrap, set(created), visible_within)
    return created


async def _until_listed(bootstrap: str, names: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with admin_client(bootstrap) as client:
        while names:
            with mapped_errors("listing topics failed"):
                names -= set(await client.list_topics())
            if not names:
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"{len(names)} new topics are still not in the metadata after {timeout:.0f}s"
                )
            await asyncio.sleep(0.2)


async def track_topics(producer: AIOKafkaProducer, topics: Sequence[str]) -> None:
    """Load the metadata of every topic a producer will write to, in one request.

    aiokafka otherwise fetches metadata the first time it sends to each topic, which for a
    router writing to thousands of unit topics is one stall per unit.
    """
    with mapped_errors("fetching topic metadata failed"):
        await producer.client.set_topics(list(topics))


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    if not names:
        return
    async with admin_client(bootstrap) as client:
        with mapped_errors("deleting topics failed"):
            await client.delete_topics(list(names))
