"""A single-node KRaft Kafka 4.x from Maven Central jars, for development and tests.

The jars come from `deploy/kafka/pom.xml` through `mvn dependency:copy-dependencies` into a
cache directory keyed by the pom's hash, so a second run (or a second clone) reuses them.
`KAFKA_HOME` uses an existing install's `libs/` instead.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from kernel import kafka
from kernel.errors import (
    JavaMissing,
    KafkaUnavailable,
    MavenUnreachable,
    ServiceFailed,
    StaleDataDir,
)
from kernel.settings import Settings
from lienthong.devstack import processes

POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"
MAIN_CLASS = "kafka.Kafka"
NODE_ID = 1
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


class LocalKafka:
    def __init__(self, settings: Settings, *, pom: Path = POM) -> None:
        self.settings = settings
        self.pom = pom
        self.dir = settings.state_dir / "kafka"
        self.data_dir = self.dir / "data"
        self.config = self.dir / "server.properties"
        self.log4j_config = self.dir / "log4j2.properties"
        self.pid_file = self.dir / "kafka.pid"
        self.console_log = self.dir / "console.log"
        self.server_log = self.dir / "server.log"
        self.cluster_id_file = self.dir / "cluster.id"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    def pid(self) -> int | None:
        # The config path is unique to this state dir: it tells our broker from any other.
        return processes.read_pid(self.pid_file, str(self.config))

    def java(self) -> str:
        home = self.settings.java_home
        java = str(home / "bin" / "java") if home else shutil.which("java")
        if not java or not Path(java).exists():
            raise JavaMissing(
                "java was not found" + (f" in JAVA_HOME={home}" if home else " on PATH"),
                hint="install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless)",
            )
        result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
        match = _JAVA_VERSION.search(result.stderr + result.stdout)
        major = int(match[1]) if match else 0
        if major == 1 and match and match[2]:
            major = int(match[2])
        if major < 17:
            raise JavaMissing(
                f"Kafka 4 needs Java 17 or newer; {java} is Java {major or 'of unknown version'}",
                hint="install openjdk-17 or set JAVA_HOME to a newer JDK",
            )
        return java

    def classpath(self) -> str:
        if self.settings.kafka_home:
            libs = self.settings.kafka_home / "libs"
            if not any(libs.glob("kafka_2.13-*.jar")):
                raise ServiceFailed(
                    f"KAFKA_HOME={self.settings.kafka_home} has no libs/kafka_2.13-*.jar"
                )
            return f"{libs}/*"
        return f"{self.fetch_jars()}/*"

    def jar_cache(self) -> Path:
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()[:16]
        return self.settings.cache_dir / "kafka" / digest

    def fetch_jars(self) -> Path:
        """The jars directory, fetched with mvn on the first call and reused after."""
        cache = self.jar_cache()
        jars = cache / "jars"
        if (cache / "complete").exists():
            return jars
        mvn = shutil.which("mvn")
        if not mvn:
            raise MavenUnreachable(
                "mvn was not found on PATH; it fetches the Kafka jars from Maven Central",
                hint="install Maven (Debian: apt-get install maven), or set KAFKA_HOME "
                "to an existing Kafka install, or LIENTHONG_KAFKA_BOOTSTRAP to a running cluster",
            )
        staging = cache / f"jars.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log = cache / "mvn.log"
        with log.open("wb") as out:
            result = subprocess.run(
                [
                    mvn, "-B", "-f", str(self.pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            raise MavenUnreachable(
                f"mvn could not fetch the Kafka jars (exit {result.returncode}); "
                f"last lines of {log}:\n{processes.tail(log, 15)}",
                hint="check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml)",
            )
        shutil.rmtree(jars, ignore_errors=True)
        staging.rename(jars)
        (cache / "complete").write_text(self.pom.read_text())
        return jars

    def _cluster_id(self) -> str:
        """The cluster id this state dir was formatted with; a foreign data dir is refused."""
        meta = self.data_dir / "meta.properties"
        recorded = (
            self.cluster_id_file.read_text().strip() if self.cluster_id_file.exists() else None
        )
        if meta.exists():
            found = dict(
                line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line
            ).get("cluster.id")
            if recorded is None or found != recorded:
                raise StaleDataDir(
                    f"the Kafka data dir {self.data_dir} was formatted for cluster {found}, "
                    f"not for this stack's cluster {recorded}",
                    hint="remove it with `lienthong dev down --wipe` (its topics are lost)",
                )
            return recorded
        if recorded is None:
            recorded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.cluster_id_file.write_text(recorded + "\n")
        return recorded

    def _write_config(self) -> None:
        s = self.settings
        self.config.write_text(
            "\n".join(
                [
                    "# Generated by `lienthong dev up`; edits are overwritten.",
                    "process.roles=broker,controller",
                    f"node.id={NODE_ID}",
                    f"controller.quorum.voters={NODE_ID}@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},"
                    f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "default.replication.factor=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=10",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    f"message.max.bytes={s.max_message_bytes}",
                    f"replica.fetch.max.bytes={s.max_message_bytes}",
                    "num.network.threads=2",
                    "num.io.threads=4",
                    "log.retention.hours=168",
                    # Deleted topics' files go at once, not a minute later in the middle of
                    # the next test or benchmark case (the data is throwaway).
                    "log.segment.delete.delay.ms=1000",
                    "",
                ]
            )
        )
        self.log4j_config.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {self.server_log}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = INFO",
                    "rootLogger.appenderRef.file.ref = FILE",
                    "logger.request.name = kafka.request.logger",
                    "logger.request.level = WARN",
                    "",
                ]
            )
        )

    def _java_command(self, java: str, classpath: str, main: str, *args: str) -> list[str]:
        heap = self.settings.kafka_heap_mb
        return [
            java,
            f"-Xmx{heap}m",
            f"-Xms{min(heap, 256)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_config}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def _format(self, java: str, classpath: str, cluster_id: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        result = subprocess.run(
            self._java_command(
                java, classpath, "kafka.tools.StorageTool",
                "format", "--config", str(self.config), "--cluster-id", cluster_id,
                "--ignore-formatted",
            ),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceFailed(
                f"formatting Kafka storage in {self.data_dir} failed:\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )

    async def start(self, *, timeout: float = 90.0) -> bool:
        """Start the broker unless it runs already; True when this call started it."""
        if self.pid() is not None:
            await kafka.wait_until_ready(self.bootstrap, timeout=timeout)
            return False
        java = self.java()
        classpath = self.classpath()
        for port, setting in (
            (self.settings.kafka_port, "LIENTHONG_KAFKA_PORT"),
            (self.settings.kafka_controller_port, "LIENTHONG_KAFKA_CONTROLLER_PORT"),
        ):
            processes.check_port_free(port, service="Kafka", setting=setting)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format(java, classpath, self._cluster_id())
        pid = processes.spawn_daemon(
            self._java_command(java, classpath, MAIN_CLASS, str(self.config)),
            log=self.console_log,
            cwd=self.dir,
        )
        self.pid_file.write_text(f"{pid}\n")
        await self._wait_ready(pid, timeout)
        return True

    async def _wait_ready(self, pid: int, timeout: float) -> None:
        async def ready() -> bool:
            # A cheap TCP probe first keeps aiokafka from logging each refused connection.
            if not processes.port_open(self.settings.kafka_port):
                return False
            try:
                return await kafka.broker_count(self.bootstrap) > 0
            except KafkaUnavailable:
                return False

        await processes.wait_ready(
            pid, self.pid_file, ready, service="Kafka", answer="metadata requests",
            logs=[self.server_log, self.console_log], timeout=timeout, every=0.5,
        )  # fmt: skip

    def stop(self) -> bool:
        """Stop the broker if it runs; True when this call stopped it."""
        return processes.stop(self.pid(), self.pid_file, service="Kafka")

    def wipe(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
