"""`make demo`'s main job runs through on the real services and ends with the ledger."""

from __future__ import annotations

import dataclasses
import re
import socket
import uuid
from pathlib import Path

import pytest

from broker import provisioning
from kernel import database, kafka
from kernel.kafka import ClientConfig
from kernel.settings import Settings
from kernel.topics import Topics
from lienthong import demo
from lienthong.devstack.console import LocalConsole, demo_account
from lienthong.devstack.stack import Endpoints
from tests import browserless

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.mark.timeout(180)
async def test_the_demo_exchange_completes(
    settings: Settings, services: Endpoints, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    local = dataclasses.replace(
        settings, topic_prefix=f"d{tag}.", database_schema=f"d_{tag}", pki_dir=tmp_path / "pki",
        kafka_clients=tmp_path / "kafka-clients",
    )  # fmt: skip
    assert services.owner_database_url is not None
    admin = await database.connect(services.owner_database_url.reveal())
    await database.migrate(admin, schema=local.database_schema)
    try:
        await demo.run(local, services)
        await _the_console_is_left_running(local)
    finally:
        names = await _topics(services.kafka, Topics(local.topic_prefix).prefix)
        await kafka.delete_topics(services.kafka, names)
        await provisioning.remove_deployment(services.kafka, Topics(local.topic_prefix))
        await admin.execute(f'DROP SCHEMA "{local.database_schema}" CASCADE')
        await admin.close()
    out = capsys.readouterr().out
    assert "(unit_redirected)" in out
    assert "(certificate_untrusted)" in out
    assert "(malware_found)" in out
    assert "← 06 from 000.00.00.H62" in out
    table = out[out.index("message    sender") :].splitlines()[1:]
    # The forgery is dead-lettered only: no ledger row under an id nobody proved.
    assert len(table) == 6
    assert not any("certificate_untrusted" in row for row in table)
    assert sum("rejected  malware_found" in row for row in table) == 1
    assert any("000.00.31.H07  000.02.00.H62" in row for row in table)


async def _the_console_is_left_running(local: Settings) -> None:
    """`make demo` ends with the console running and a demo account to log in with."""
    local = dataclasses.replace(local, console_port=_free_port())
    first, _ = await demo_account(local)
    account, password = await demo_account(local)  # a second demo resets the password
    assert account.username == first.username
    console = LocalConsole(local)
    assert await console.start()
    try:
        async with browserless.client(console.url) as http:
            page = await (await http.get(f"{console.url}login")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token is not None
            answer = await http.post(
                f"{console.url}login",
                data={"csrf": token[1], "username": account.username, "password": password},
            )
            assert answer.url.path == "/password"  # Article 9.2: the first thing asked
    finally:
        assert console.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _topics(admin: ClientConfig, prefix: str) -> list[str]:
    async with kafka.admin_client(admin) as client:
        return [t for t in await client.list_topics() if t.startswith(prefix)]
