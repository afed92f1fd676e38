"""What the bridge's and the federation's tests share: a directory with units behind
gateways, a gateway's database role, fresh documents, and records written straight to a
topic (what a misused principal or key could write)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence

from aiokafka import AIOKafkaProducer

from broker.directory import Directory, Unit, loader
from connectors import packing
from kernel import database
from kernel.kafka import ClientConfig
from lienthong import dbroles
from lienthong.commands.pki import SAMPLE_DIRECTORY
from lienthong.devstack.stack import Endpoints

_numbers = itertools.count(int(datetime.datetime.now().timestamp()) % 100000 * 10)


def behind(gateways: Mapping[str, str], *extra: Unit) -> Directory:
    """The sample directory with these units (OrganId -> gateway) behind those gateways,
    and `extra` units besides."""
    sample = loader.load(SAMPLE_DIRECTORY)
    return Directory(
        [
            *(dataclasses.replace(u, gateway=gateways[u.organ_id]) if u.organ_id in gateways
              else u for u in sample.units.values()),
            *extra,
        ]
    )  # fmt: skip


@contextlib.asynccontextmanager
async def gateway_role(services: Endpoints, gateway: str) -> AsyncIterator[str]:
    """The gateway's own database role (as `lienthong db gateway-role` makes it), dropped
    afterwards; its DSN."""
    assert services.database_roles_dir is not None
    admin = await database.connect(services.database_url.reveal())
    try:
        dsn = await dbroles.create_gateway_role(
            admin, gateway, base=services.database_url.reveal(),
            directory=services.database_roles_dir,
        )  # fmt: skip
        yield dsn.reveal()
    finally:
        role = dbroles.gateway_role(gateway)
        dbroles.dsn_file(services.database_roles_dir, role).unlink(missing_ok=True)
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def document(
    sender: str,
    to: str,
    subject: str = "V/v phối hợp liên thông",
    *,
    also: Sequence[str] = (),
    notation: str = "UBND-VP",
) -> tuple[bytes, str]:
    """A fresh document (a number of its own) to `to` (and `also`), and its DocumentId."""
    number = next(_numbers)
    packet = packing.edxml_from_fields(
        sender,
        {"subject": f"{subject} ({number})", "code_number": str(number),
         "code_notation": notation, "content": "Đề nghị phối hợp liên thông."},
        [to, *also],
    )  # fmt: skip
    return packet, f"{sender},{datetime.date.today():%Y/%m/%d},{number}/{notation}"


async def produce(
    config: ClientConfig, topic: str, value: bytes, key: str, headers: list[tuple[str, bytes]]
) -> None:
    """One record written to `topic` with these credentials, acknowledged by every replica."""
    producer = AIOKafkaProducer(**config.aiokafka(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()
