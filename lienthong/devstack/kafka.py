"""A single-node KRaft Kafka 4.x from Maven Central jars, for development and tests.

The jars come from `deploy/kafka/pom.xml` through `mvn dependency:copy-dependencies` into a
cache directory keyed by the pom's hash, so a second run (or a second clone) reuses them.
`KAFKA_HOME` uses an existing install's `libs/` instead.

Secured as production is: the one listener clients reach is SASL_SSL with SCRAM-SHA-512
(TLS from the devstack's own CA, `tls.py`); the controller listener is TLS with client
certificates, so only the broker itself speaks to it. `StandardAuthorizer` with no
allow-everyone fallback; the super users are the broker's two identities and the admin.
The broker's and the admin's SCRAM credentials are written at format time; every other
principal is created through the admin (`lienthong kafka client-config`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from kernel import kafka
from kernel.errors import (
    AccessDenied,
    JavaMissing,
    KafkaUnavailable,
    MavenUnreachable,
    ServiceFailed,
    StaleDataDir,
)
from kernel.kafka import ClientConfig
from kernel.kafka_admin import MECHANISM, SecurityAdmin, new_password
from kernel.secrets import private_dir, write_private
from kernel.settings import Secret, Settings
from lienthong.devstack import processes
from lienthong.devstack.tls import BROKER_CN, Authority

BROKER_USER = "lienthong-broker"
ADMIN_USER = "lienthong-admin"

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
        self.tls = Authority(self.dir / "tls")
        self.broker_password_file = self.dir / "tls" / "broker.password"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def admin_config_file(self) -> Path:
        return kafka.config_path(self.settings, kafka.ADMIN_FILE)

    def admin_config(self) -> ClientConfig:
        return kafka.admin_config(self.settings)

    def _credentials(self) -> tuple[Secret, Secret]:
        """The broker's and the admin's passwords: made once, before the first format."""
        if self.broker_password_file.exists():
            broker = Secret(self.broker_password_file.read_text().strip())
            return broker, self.admin_config().password or Secret("")
        broker, admin = new_password(), new_password()
        write_private(self.broker_password_file, broker.reveal() + "\n")
        ClientConfig(
            bootstrap=self.bootstrap, protocol="SASL_SSL", mechanism=MECHANISM,
            username=ADMIN_USER, password=admin, ca_file=self.tls.ca_file,
        ).save(self.admin_config_file)  # fmt: skip
        return broker, admin

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

    def _check_secured(self) -> None:
        """A data dir formatted before the broker was secured has no SCRAM credentials."""
        formatted = (self.data_dir / "meta.properties").exists()
        if formatted and not (
            self.broker_password_file.exists() and self.admin_config_file.exists()
        ):
            raise StaleDataDir(
                f"the Kafka data dir {self.data_dir} was formatted without the credentials "
                f"this stack keeps in {self.broker_password_file} and {self.admin_config_file}",
                hint="remove it with `lienthong dev down --wipe` (its topics are lost)",
            )

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

    def _listeners(self, broker_password: Secret) -> list[str]:
        s = self.settings
        controller = f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}"
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER_USER}" password="{broker_password.reveal()}";'
        )
        return [
            f"listeners=SASL_SSL://127.0.0.1:{s.kafka_port},{controller}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.tls.broker_keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.tls.ca_file}",
            "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
            "listener.name.controller.ssl.client.auth=required",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{BROKER_USER};User:{ADMIN_USER};User:CN={BROKER_CN}",
            # A deleted credential stops working on open connections within minutes.
            "connections.max.reauth.ms=300000",
        ]

    def _write_config(self, broker_password: Secret) -> None:
        s = self.settings
        text = "\n".join(
            [
                "# Generated by `lienthong dev up`; edits are overwritten.",
                "process.roles=broker,controller",
                f"node.id={NODE_ID}",
                f"controller.quorum.voters={NODE_ID}@127.0.0.1:{s.kafka_controller_port}",
                *self._listeners(broker_password),
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
                # A metadata snapshot every few seconds of change. Kafka 4.1's ScramDelta.apply
                # drops a mechanism's whole credential map when, replaying from no snapshot,
                # it removes users before it has put back others: a restart after `topics
                # sync` deleted a unit's credentials would lock every principal out. From a
                # snapshot the map starts with the admin and the broker, and never empties.
                "metadata.log.max.snapshot.interval.ms=5000",
                "",
            ]
        )
        write_private(self.config, text)
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

    def _format(
        self, java: str, classpath: str, cluster_id: str, broker: Secret, admin: Secret
    ) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        scram = [
            "--add-scram", f"{MECHANISM}=[name={BROKER_USER},password={broker.reveal()}]",
            "--add-scram", f"{MECHANISM}=[name={ADMIN_USER},password={admin.reveal()}]",
        ]  # fmt: skip
        result = subprocess.run(
            self._java_command(
                java, classpath, "kafka.tools.StorageTool",
                "format", "--config", str(self.config), f"--cluster-id={cluster_id}",
                "--ignore-formatted", *scram,
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
            await kafka.wait_until_ready(self.admin_config(), timeout=timeout)
            return False
        java = self.java()
        classpath = self.classpath()
        for port, setting in (
            (self.settings.kafka_port, "LIENTHONG_KAFKA_PORT"),
            (self.settings.kafka_controller_port, "LIENTHONG_KAFKA_CONTROLLER_PORT"),
        ):
            processes.check_port_free(port, service="Kafka", setting=setting)
        private_dir(self.dir)
        cluster_id = self._cluster_id()
        self._check_secured()
        self.tls.ensure()
        broker, admin = self._credentials()
        self._write_config(broker)
        fresh = not (self.data_dir / "meta.properties").exists()
        self._format(java, classpath, cluster_id, broker, admin)
        pid = processes.spawn_daemon(
            self._java_command(java, classpath, MAIN_CLASS, str(self.config)),
            log=self.console_log,
            cwd=self.dir,
        )
        self.pid_file.write_text(f"{pid}\n")
        await self._wait_ready(pid, timeout)
        if fresh:
            await self._rotate()
        return True

    async def _rotate(self) -> None:
        """New passwords for the broker and the admin, once the broker runs.

        The storage tool takes the first ones on its command line, which any local user
        can read in /proc while it runs; from here on they are worth nothing. The broker
        reads its new one from its 0600 config at its next start (alone, it makes no
        broker-to-broker connection before then).
        """
        old = self.admin_config()
        broker, admin = new_password(), new_password()
        with SecurityAdmin(old) as cluster:
            await cluster.upsert_users({BROKER_USER: broker, ADMIN_USER: admin})
        write_private(self.broker_password_file, broker.reveal() + "\n")
        self._write_config(broker)
        dataclasses.replace(old, password=admin).save(self.admin_config_file)

    async def _wait_ready(self, pid: int, timeout: float) -> None:
        async def ready() -> bool:
            # A cheap TCP probe first keeps aiokafka from logging each refused connection.
            if not processes.port_open(self.settings.kafka_port):
                return False
            try:
                return await kafka.broker_count(self.admin_config()) > 0
            except (KafkaUnavailable, AccessDenied):
                return False

        await processes.wait_ready(
            pid, self.pid_file, ready, service="Kafka", answer="metadata requests",
            logs=[self.server_log, self.console_log], timeout=timeout, every=0.5,
        )  # fmt: skip

    def stop(self) -> bool:
        """Stop the broker if it runs; True when this call stopped it."""
        return processes.stop(self.pid(), self.pid_file, service="Kafka")

    def wipe(self) -> None:
        """The broker's data and its principals' credentials (valid only here)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.settings.kafka_clients_dir, ignore_errors=True)
