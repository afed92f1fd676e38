"""A local KRaft Kafka 4.x from Maven Central jars, for development and tests: one node
(the default), or a cluster of three (`LIENTHONG_KAFKA_BROKERS=3`, `dev up --brokers 3`).

Every node is a combined broker and controller. The cluster's three controllers form a
static quorum (the same `controller.quorum.voters` on each, formatted without
`--initial-controllers`): it survives one node lost, never two. It keeps its state in
`<state dir>/kafka-cluster/node-N`, its principals' configs in `kafka-cluster-clients/` and
its nine ports from LIENTHONG_KAFKA_CLUSTER_PORT, so it runs beside the one-node stack.

The jars come from `deploy/kafka/pom.xml` through `mvn dependency:copy-dependencies` into a
cache directory keyed by the pom's hash, so a second run (or a second clone) reuses them.
`KAFKA_HOME` uses an existing install's `libs/` instead.

Secured as production is: the one listener clients reach is SASL_SSL with SCRAM-SHA-512
(TLS from the devstack's own CA, `tls.py`); the controller listener is TLS with client
certificates, so only the brokers themselves speak to it; in the cluster so is the listener
the brokers replicate over (their SCRAM password, rotated while they run, would lock a
follower out at its next reconnection). `StandardAuthorizer` with no
allow-everyone fallback; the super users are the broker's two identities and the admin.
The broker's and the admin's SCRAM credentials are written at format time; every other
principal is created through the admin (`lienthong kafka client-config`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
import re
import shutil
import signal
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
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    """One KRaft server, broker and controller in one process, and where its files are."""

    id: int
    dir: Path
    port: int
    """SASL_SSL, for clients."""
    controller_port: int
    broker_port: int | None = None
    """TLS with client certificates between the cluster's brokers; alone, none."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def config(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log4j_config(self) -> Path:
        return self.dir / "log4j2.properties"

    @property
    def pid_file(self) -> Path:
        return self.dir / "kafka.pid"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def server_log(self) -> Path:
        return self.dir / "server.log"


class LocalKafka:
    def __init__(self, settings: Settings, *, pom: Path = POM) -> None:
        self.settings = settings
        self.pom = pom
        if settings.kafka_brokers == 1:
            self.dir = settings.state_dir / "kafka"
            self.nodes = [Node(1, self.dir, settings.kafka_port, settings.kafka_controller_port)]
            self.heap_mb = settings.kafka_heap_mb
        else:
            self.dir = settings.state_dir / "kafka-cluster"
            self.nodes = []
            for n in range(1, settings.kafka_brokers + 1):
                port, broker_port, controller_port = settings.kafka_cluster_ports(n)
                self.nodes.append(
                    Node(n, self.dir / f"node-{n}", port, controller_port, broker_port)
                )
            self.heap_mb = settings.kafka_cluster_heap_mb
        self.cluster_id_file = self.dir / "cluster.id"
        self.tls = Authority(self.dir / "tls")
        self.broker_password_file = self.dir / "tls" / "broker.password"

    @property
    def data_dir(self) -> Path:
        """The first node's data (the only one's, on one broker)."""
        return self.nodes[0].data_dir

    @property
    def config(self) -> Path:
        return self.nodes[0].config

    @property
    def server_log(self) -> Path:
        return self.nodes[0].server_log

    @property
    def replication(self) -> tuple[int, int]:
        """The replication factor and min.insync.replicas topics get here: 3 and 2 on three
        brokers (one may be lost, writes go on), 1 and 1 alone."""
        replicas = min(len(self.nodes), 3)
        return replicas, max(1, replicas - 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

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
        """The first node's pid (the only one's, on one broker)."""
        return self.node_pid(self.nodes[0])

    def node_pid(self, node: Node) -> int | None:
        # The config path is unique to this node: it tells our broker from any other.
        return processes.read_pid(node.pid_file, str(node.config))

    def pids(self) -> dict[int, int | None]:
        return {node.id: self.node_pid(node) for node in self.nodes}

    def running(self) -> bool:
        return any(pid is not None for pid in self.pids().values())

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

    def _formatted(self) -> list[Node]:
        return [node for node in self.nodes if (node.data_dir / "meta.properties").exists()]

    def _check_secured(self) -> None:
        """A data dir formatted before the broker was secured has no SCRAM credentials."""
        formatted = self._formatted()
        if formatted and not (
            self.broker_password_file.exists() and self.admin_config_file.exists()
        ):
            raise StaleDataDir(
                f"the Kafka data dir {formatted[0].data_dir} was formatted without the "
                f"credentials this stack keeps in {self.broker_password_file} and "
                f"{self.admin_config_file}",
                hint="remove it with `lienthong dev down --wipe` (its topics are lost)",
            )

    def _cluster_id(self) -> str:
        """The cluster id this state dir was formatted with; a foreign data dir is refused."""
        recorded = (
            self.cluster_id_file.read_text().strip() if self.cluster_id_file.exists() else None
        )
        for node in self._formatted():
            meta = node.data_dir / "meta.properties"
            found = dict(
                line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line
            ).get("cluster.id")
            if recorded is None or found != recorded:
                raise StaleDataDir(
                    f"the Kafka data dir {node.data_dir} was formatted for cluster {found}, "
                    f"not for this stack's cluster {recorded}",
                    hint="remove it with `lienthong dev down --wipe` (its topics are lost)",
                )
        if recorded is None:
            recorded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.cluster_id_file.write_text(recorded + "\n")
        return recorded

    def _listeners(self, node: Node, broker_password: Secret) -> list[str]:
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER_USER}" password="{broker_password.reveal()}";'
        )
        advertised = [f"SASL_SSL://{node.address}"]
        protocols = "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
        between = ["inter.broker.listener.name=SASL_SSL"]
        if node.broker_port is not None:
            advertised.append(f"BROKER://127.0.0.1:{node.broker_port}")
            protocols += ",BROKER:SSL"
            between = [
                "inter.broker.listener.name=BROKER",
                "listener.name.broker.ssl.client.auth=required",
            ]
        controller = f"CONTROLLER://127.0.0.1:{node.controller_port}"
        return [
            f"listeners={','.join(advertised)},{controller}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            *between,
            f"listener.security.protocol.map={protocols}",
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

    def _write_config(self, node: Node, broker_password: Secret) -> None:
        s = self.settings
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        replicas, min_insync = self.replication
        private_dir(node.dir)
        text = "\n".join(
            [
                "# Generated by `lienthong dev up`; edits are overwritten.",
                "process.roles=broker,controller",
                f"node.id={node.id}",
                f"controller.quorum.voters={voters}",
                *self._listeners(node, broker_password),
                f"log.dirs={node.data_dir}",
                "auto.create.topics.enable=false",
                "num.partitions=1",
                # kernel.kafka.ensure_topics gives every new topic these two.
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={min_insync}",
                f"offsets.topic.replication.factor={replicas}",
                "offsets.topic.num.partitions=10",
                f"transaction.state.log.replication.factor={replicas}",
                f"transaction.state.log.min.isr={min_insync}",
                "transaction.state.log.num.partitions=10",
                f"share.coordinator.state.topic.replication.factor={replicas}",
                f"share.coordinator.state.topic.min.isr={min_insync}",
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
        write_private(node.config, text)
        node.log4j_config.write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {node.server_log}",
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

    def _java_command(
        self, node: Node, java: str, classpath: str, main: str, *args: str
    ) -> list[str]:
        heap = self.heap_mb
        return [
            java,
            f"-Xmx{heap}m",
            f"-Xms{min(heap, 256)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.log4j_config}",
            f"-Dkafka.logs.dir={node.dir}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def _format(
        self, node: Node, java: str, classpath: str, cluster_id: str, broker: Secret, admin: Secret
    ) -> None:
        """Every node gets the same credentials: whichever controller leads first writes them."""
        if (node.data_dir / "meta.properties").exists():
            return
        scram = [
            "--add-scram", f"{MECHANISM}=[name={BROKER_USER},password={broker.reveal()}]",
            "--add-scram", f"{MECHANISM}=[name={ADMIN_USER},password={admin.reveal()}]",
        ]  # fmt: skip
        result = subprocess.run(
            self._java_command(
                node, java, classpath, "kafka.tools.StorageTool",
                "format", "--config", str(node.config), f"--cluster-id={cluster_id}",
                "--ignore-formatted", *scram,
            ),
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceFailed(
                f"formatting Kafka storage in {node.data_dir} failed:\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )

    async def start(self, *, node: int | None = None, timeout: float = 90.0) -> bool:
        """Start the nodes that do not run, or only node `node` (one brought back after a
        fault); True when this call started any."""
        down = [n for n in self.nodes if self.node_pid(n) is None and node in (None, n.id)]
        if not down:
            await kafka.wait_until_ready(self.admin_config(), timeout=timeout)
            return False
        java = self.java()
        classpath = self.classpath()
        for server in down:
            self._check_ports(server)
        private_dir(self.dir)
        cluster_id = self._cluster_id()
        self._check_secured()
        self.tls.ensure()
        broker, admin = self._credentials()
        fresh = not self._formatted()
        for server in down:
            self._write_config(server, broker)
        await asyncio.gather(
            *(
                asyncio.to_thread(self._format, server, java, classpath, cluster_id, broker, admin)
                for server in down
            )
        )
        # All before any wait: a controller alone is no quorum and would never be ready.
        started = {
            server.id: processes.spawn_daemon(
                self._java_command(server, java, classpath, MAIN_CLASS, str(server.config)),
                log=server.console_log,
                cwd=server.dir,
            )
            for server in down
        }
        for server in down:
            server.pid_file.write_text(f"{started[server.id]}\n")
        for server in down:
            await self._wait_ready(server, started[server.id], timeout)
        if fresh:
            await self._rotate()
        return True

    def _check_ports(self, node: Node) -> None:
        s = self.settings
        if node.broker_port is None:
            wanted = [
                (node.port, "LIENTHONG_KAFKA_PORT"),
                (node.controller_port, "LIENTHONG_KAFKA_CONTROLLER_PORT"),
            ]
        else:
            wanted = [
                (port, f"LIENTHONG_KAFKA_CLUSTER_PORT (now {s.kafka_cluster_port})")
                for port in (node.port, node.broker_port, node.controller_port)
            ]
        for port, setting in wanted:
            processes.check_port_free(port, service=f"Kafka node {node.id}", setting=setting)

    async def _rotate(self) -> None:
        """New passwords for the broker and the admin, once the broker runs.

        The storage tool takes the first ones on its command line, which any local user
        can read in /proc while it runs; from here on they are worth nothing. The broker
        reads its new one from its 0600 config at its next start (alone, it makes no
        broker-to-broker connection before then; in the cluster they use certificates).
        Returns once every node takes the admin's new password: each learns it from the
        metadata log a moment after the controller.
        """
        old = self.admin_config()
        broker, admin = new_password(), new_password()
        with SecurityAdmin(old) as cluster:
            await cluster.upsert_users({BROKER_USER: broker, ADMIN_USER: admin})
        write_private(self.broker_password_file, broker.reveal() + "\n")
        for node in self.nodes:
            self._write_config(node, broker)
        new = dataclasses.replace(old, password=admin)
        new.save(self.admin_config_file)
        for node in self.nodes:
            await kafka.until_it_authenticates(dataclasses.replace(new, bootstrap=node.address))

    async def _wait_ready(self, node: Node, pid: int, timeout: float) -> None:
        """Until this node lists itself among the cluster's brokers (registered, unfenced)."""
        config = dataclasses.replace(self.admin_config(), bootstrap=node.address)

        async def ready() -> bool:
            # A cheap TCP probe first keeps aiokafka from logging each refused connection.
            if not processes.port_open(node.port):
                return False
            try:
                return node.id in await kafka.broker_ids(config)
            except (KafkaUnavailable, AccessDenied):
                return False

        await processes.wait_ready(
            pid, node.pid_file, ready, service=f"Kafka node {node.id}",
            answer="metadata requests", logs=[node.server_log, node.console_log],
            timeout=timeout, every=0.5,
        )  # fmt: skip

    def stop(self) -> bool:
        """Stop the nodes that run; True when this call stopped any.

        All are signalled at once: stopped one by one, the last would wait out its grace
        for a controller quorum that left before it.
        """
        running = [(node, pid) for node in self.nodes if (pid := self.node_pid(node)) is not None]
        for _node, pid in running:
            processes.signal_quietly(pid, signal.SIGTERM)
        for node, pid in running:
            processes.stop(pid, node.pid_file, service=f"Kafka node {node.id}")
        return bool(running)

    def wipe(self) -> None:
        """The nodes' data and their principals' credentials (valid only here)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.settings.kafka_clients_dir, ignore_errors=True)
