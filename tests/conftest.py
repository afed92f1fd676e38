"""Fixtures for the real services.

The session starts (or reuses) the real Kafka and PostgreSQL through the devstack and stops
at the end only what it started itself. Each test that asks gets its own topics and its own
database schema, dropped afterwards. A service that cannot be reached fails the test with
the reason; nothing here skips.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from kernel import database, kafka
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from lienthong.devstack import stack
from lienthong.devstack.stack import Endpoints
from schemas.codec import Registry
from signing.testpki import TestPki

TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Endpoints]:
    found, started = await stack.up(settings)
    yield found
    stack.down(settings, only=started)


@pytest.fixture(scope="session")
def kafka_admin(services: Endpoints) -> ClientConfig:
    """The admin principal (a super user) of the secured broker."""
    return services.kafka


@pytest.fixture
async def new_topic(kafka_admin: ClientConfig) -> AsyncIterator[TopicFactory]:
    """Make topics with unique names for this test; they are deleted when it ends."""
    made: list[str] = []

    async def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        await kafka.ensure_topics(kafka_admin, [kafka.TopicSpec(name, partitions)])
        made.append(name)
        return name

    yield make
    await kafka.delete_topics(kafka_admin, made)


@pytest.fixture
async def db(services: Endpoints) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose search_path is a fresh, fully migrated schema of its own."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    dsn = services.database_url.reveal()
    admin = await database.connect(dsn)
    try:
        await database.migrate(admin, schema=schema)
        conn = await database.connect(dsn, schema=schema)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.load()
