"""The local stack against the real machine: idempotence, clean stops, and clear refusals.

These start second, throwaway Kafka and PostgreSQL instances in a temporary state dir on
free ports, next to the session's own, and stop them again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kernel import kafka, kafka_admin
from kernel.errors import (
    AccessDenied,
    JavaMissing,
    MavenUnreachable,
    PortInUse,
    PostgresMissing,
    StaleDataDir,
)
from kernel.settings import Secret, Settings
from lienthong.devstack import kafka as devstack_kafka
from lienthong.devstack import processes, stack
from lienthong.devstack.kafka import LocalKafka
from lienthong.devstack.postgres import LocalPostgres
from lienthong.devstack.stack import Endpoints

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def isolated(
    settings: Settings, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> Iterator[Settings]:
    """Settings for a second stack: own state dir and ports, the shared jar cache."""
    isolated = dataclasses.replace(
        settings,
        state_dir=tmp_path / "state",
        kafka_port=unused_tcp_port_factory(),
        kafka_controller_port=unused_tcp_port_factory(),
        postgres_port=unused_tcp_port_factory(),
        clamd_port=unused_tcp_port_factory(),
        clamd=None,
        kafka_bootstrap=None,
        database_url=None,
    )
    yield isolated
    stack.down(isolated, wipe=True)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _cli(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LIENTHONG_STATE_DIR": str(settings.state_dir),
        "LIENTHONG_CACHE_DIR": str(settings.cache_dir),
        "LIENTHONG_KAFKA_PORT": str(settings.kafka_port),
        "LIENTHONG_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
        "LIENTHONG_POSTGRES_PORT": str(settings.postgres_port),
        "LIENTHONG_CLAMD_PORT": str(settings.clamd_port),
    }
    for name in (
        "LIENTHONG_KAFKA_BOOTSTRAP",
        "LIENTHONG_DATABASE_URL",
        "LIENTHONG_CLAMD",
        "KAFKA_HOME",
    ):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "lienthong", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_up_twice_reuses_what_runs(settings: Settings, services: Endpoints) -> None:
    found, started = await stack.up(settings)
    assert found == services
    assert started == stack.Started(kafka=False, postgres=False)


@pytest.mark.timeout(300)
def test_cli_lifecycle_is_idempotent_and_leaves_nothing(isolated: Settings) -> None:
    kafka_dir = isolated.state_dir / "kafka"
    kafka_dir.mkdir(parents=True)
    (kafka_dir / "kafka.pid").write_text("999999\n")  # stale, from a crashed earlier run

    first = _cli("dev", "up", settings=isolated)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("(started)") == 3
    second = _cli("dev", "up", settings=isolated)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("(already running)") == 3

    status = _cli("dev", "status", "--json", settings=isolated)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["kafka"]["ready"]
    assert report["postgres"]["ready"]
    assert report["clamd"]["ready"]
    assert report["clamd"]["version"].startswith("ClamAV ")
    kafka_pid, postgres_pid = report["kafka"]["pid"], report["postgres"]["pid"]
    clamd_pid = report["clamd"]["pid"]
    assert kafka_pid != 999999

    down = _cli("dev", "down", settings=isolated)
    assert down.returncode == 0, down.stderr
    assert "kafka" in down.stdout
    assert "postgres" in down.stdout
    assert "clamd" in down.stdout
    assert not processes.alive(kafka_pid)
    assert not processes.alive(postgres_pid)
    assert not processes.alive(clamd_pid)
    assert not (kafka_dir / "kafka.pid").exists()
    assert _cli("dev", "status", settings=isolated).returncode == 1
    assert "nothing was running" in _cli("dev", "down", settings=isolated).stdout

    # The data survives a restart: same cluster id, same database.
    cluster_id = (kafka_dir / "cluster.id").read_text()
    again = _cli("dev", "up", settings=isolated)
    assert again.returncode == 0, again.stderr
    assert (kafka_dir / "cluster.id").read_text() == cluster_id


def test_cli_reports_a_taken_port_with_its_reason(isolated: Settings, busy_port: int) -> None:
    taken = dataclasses.replace(isolated, kafka_port=busy_port)
    result = _cli("dev", "up", settings=taken)
    assert result.returncode == 2
    assert f"[port_in_use] port 127.0.0.1:{busy_port} needed by Kafka" in result.stderr
    assert "LIENTHONG_KAFKA_PORT" in result.stderr


async def test_postgres_port_taken(isolated: Settings, busy_port: int) -> None:
    with pytest.raises(PortInUse, match="PostgreSQL"):
        await LocalPostgres(dataclasses.replace(isolated, postgres_port=busy_port)).start()


async def test_a_foreign_kafka_data_dir_is_refused(isolated: Settings) -> None:
    local = LocalKafka(isolated)
    local.data_dir.mkdir(parents=True)
    (local.data_dir / "meta.properties").write_text("version=1\ncluster.id=SomeOtherCluster\n")
    with pytest.raises(StaleDataDir, match="SomeOtherCluster") as caught:
        await local.start()
    assert "dev down --wipe" in (caught.value.hint or "")
    assert local.pid() is None


async def test_a_kafka_data_dir_formatted_without_credentials_is_refused(
    isolated: Settings,
) -> None:
    """A broker formatted before it was secured would start with no SCRAM users at all."""
    local = LocalKafka(isolated)
    local.data_dir.mkdir(parents=True)
    local.cluster_id_file.write_text("OurCluster\n")
    (local.data_dir / "meta.properties").write_text("version=1\ncluster.id=OurCluster\n")
    with pytest.raises(StaleDataDir, match="credentials") as caught:
        await local.start()
    assert "dev down --wipe" in (caught.value.hint or "")
    assert local.pid() is None


@pytest.mark.timeout(240)
async def test_the_passwords_the_format_step_saw_are_rotated_away(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage tool takes the first passwords on its command line (readable in /proc
    while it runs); once the broker is up they no longer authenticate anyone."""
    made: list[Secret] = []
    original = kafka_admin.new_password

    def recording() -> Secret:
        made.append(original())
        return made[-1]

    monkeypatch.setattr(devstack_kafka, "new_password", recording)
    local = LocalKafka(isolated)
    try:
        await local.start()
        first_broker, first_admin = made[:2]
        admin = local.admin_config()
        assert admin.password not in (first_broker, first_admin)
        assert await kafka.broker_count(admin) == 1
        for user, password in (
            (devstack_kafka.BROKER_USER, first_broker),
            (devstack_kafka.ADMIN_USER, first_admin),
        ):
            stale = dataclasses.replace(admin, username=user, password=password)
            with pytest.raises(AccessDenied) as caught:
                await kafka.broker_count(stale)
            assert caught.value.reason == "kafka_authentication_failed"
        assert first_broker.reveal() not in local.config.read_text()
        # Units come and go (`topics sync` deletes the credentials of those that leave)...
        churn = {f"gone.unit.{i:03d}": kafka_admin.new_password() for i in range(120)}
        with kafka_admin.SecurityAdmin(admin) as cluster:
            await cluster.upsert_users(churn)
            await cluster.delete_users(churn)
        await asyncio.sleep(8)  # past the metadata snapshot interval
        # ... and the broker starts again with its new password, every credential intact:
        # without a metadata snapshot, Kafka 4.1 would replay the removals into an empty
        # map and lose them all.
        local.stop()
        await local.start()
        assert await kafka.broker_count(local.admin_config()) == 1
    finally:
        local.stop()


def test_a_postgres_data_dir_of_another_version_is_refused(isolated: Settings) -> None:
    local = LocalPostgres(isolated)
    local.data_dir.mkdir(parents=True)
    (local.data_dir / "PG_VERSION").write_text("9\n")
    with pytest.raises(StaleDataDir, match="version 9"):
        local.init()


def test_no_java(isolated: Settings, tmp_path: Path) -> None:
    with pytest.raises(JavaMissing, match="JAVA_HOME"):
        LocalKafka(dataclasses.replace(isolated, java_home=tmp_path)).java()


def test_no_postgres_binaries(isolated: Settings, tmp_path: Path) -> None:
    with pytest.raises(PostgresMissing, match="LIENTHONG_POSTGRES_BIN"):
        LocalPostgres(dataclasses.replace(isolated, postgres_bin=tmp_path)).bin_dir()


def test_no_mvn_on_path(
    isolated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    local = LocalKafka(dataclasses.replace(isolated, cache_dir=tmp_path / "cache"))
    with pytest.raises(MavenUnreachable, match="mvn was not found"):
        local.fetch_jars()


@pytest.mark.timeout(180)
def test_maven_central_unreachable(
    isolated: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unused_tcp_port: int,
) -> None:
    """A real mvn, an empty local repository and a mirror nobody listens on."""
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>"
        f"<url>http://127.0.0.1:{unused_tcp_port}/maven2</url></mirror></mirrors></settings>"
    )
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home}")
    local = LocalKafka(dataclasses.replace(isolated, cache_dir=tmp_path / "cache"))
    with pytest.raises(MavenUnreachable, match="could not fetch") as caught:
        local.fetch_jars()
    assert "Maven Central" in (caught.value.hint or "")
    assert not list((tmp_path / "cache" / "kafka").glob("*/complete"))
