"""Kafka helpers: how a client connects (`ClientConfig`), and the one place aiokafka's
errors become ours.

A client config names one principal: the bootstrap servers, the security protocol, the
SASL mechanism with its username and password, and the CA file that proves the brokers.
Its file form is librdkafka's property names in JSON (0600), which confluent-kafka reads as
it is; `java_properties()` and `librdkafka_properties()` are the forms the Java console
tools and kcat take (librdkafka refuses Java's `sasl.jaas.config` and trust-store keys, and
Java needs them, so one file cannot serve both).

Topic creation is idempotent (an existing topic is success), because `topics sync`, the
devstack and the tests all create topics that may already be there. A topic that names no
replication factor gets the cluster's own `default.replication.factor` and
`min.insync.replicas` (3 and 2 on the devstack's three brokers, 1 and 1 on its one), written
on the topic, so every creator replicates alike and a broker down at creation time makes
the creation fail rather than leave a topic with fewer copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import create_conn
from aiokafka.helpers import create_ssl_context

from kernel.errors import AccessDenied, ConfigurationError, KafkaUnavailable
from kernel.reasons import ReasonCode
from kernel.secrets import write_private
from kernel.settings import Secret, Settings

_TOPIC_ALREADY_EXISTS = 36
_TOPIC_AUTHORIZATION_FAILED = 29
_CLUSTER_AUTHORIZATION_FAILED = 31
_NO_ERROR = 0
_REPLICATION = "default.replication.factor"
_MIN_INSYNC = "min.insync.replicas"


@dataclasses.dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 1
    replication_factor: int | None = None
    """None: the cluster's default.replication.factor, with its min.insync.replicas."""
    configs: dict[str, str] = dataclasses.field(default_factory=dict)


ADMIN_FILE = "admin"
Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
_PROTOCOLS: tuple[Protocol, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientConfig:
    """How one principal reaches the cluster; the password never shows in a repr."""

    bootstrap: str
    protocol: Protocol = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None

    @property
    def principal(self) -> str | None:
        return f"User:{self.username}" if self.username else None

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.protocol,
        }
        if self.protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        if self.protocol.startswith("SASL_"):
            kwargs.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password.reveal() if self.password else None,
            )
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        """Brokers proven by the configured CA only (not the system's), names checked."""
        if self.ca_file is None:
            raise ConfigurationError(
                f"the Kafka client config for {self.username} uses TLS but names no CA file"
            )
        try:
            context: ssl.SSLContext = create_ssl_context(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"cannot load the Kafka CA file {self.ca_file}: {exc}"
            ) from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def librdkafka(self) -> dict[str, str]:
        """librdkafka's (kcat's, confluent-kafka's) property names; what the file holds."""
        props = {"bootstrap.servers": self.bootstrap, "security.protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            props["sasl.mechanism"] = self.mechanism or ""
            props["sasl.username"] = self.username or ""
            props["sasl.password"] = self.password.reveal() if self.password else ""
        if self.ca_file is not None:
            props["ssl.ca.location"] = str(self.ca_file)
        return props

    def librdkafka_properties(self) -> str:
        return _properties(self.librdkafka())

    def java_properties(self) -> str:
        """The Java clients' form (kafka-console-consumer.sh --consumer.config FILE)."""
        props = {"bootstrap.servers": self.bootstrap, "security.protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            password = self.password.reveal() if self.password else ""
            props["sasl.mechanism"] = self.mechanism or ""
            props["sasl.jaas.config"] = (
                f"{module} required username={json.dumps(self.username)} "
                f"password={json.dumps(password)};"
            )
        if self.ca_file is not None:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = str(self.ca_file)
        return _properties(props)

    def save(self, path: Path) -> None:
        """Write the config file: 0600 from birth, in a 0700 directory."""
        write_private(path, json.dumps(self.librdkafka(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ClientConfig:
        """Read a config file; a missing or malformed one says which and how to make it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(
                f"no Kafka client config at {path}",
                reason=ReasonCode.KAFKA_CREDENTIALS_MISSING,
                hint="create it with `lienthong kafka client-config --unit ORGANID | --router "
                "| --admin`",
            ) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the Kafka client config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"the Kafka client config {path} is not a JSON object")
        return cls.from_properties(data, source=str(path))

    @classmethod
    def from_properties(cls, props: Mapping[str, object], *, source: str) -> ClientConfig:
        def text(key: str) -> str | None:
            value = props.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"{source}: {key} must be a string")
            return value

        bootstrap = text("bootstrap.servers")
        if not bootstrap:
            raise ConfigurationError(f"{source} names no bootstrap.servers")
        protocol = (text("security.protocol") or "PLAINTEXT").upper()
        if protocol not in _PROTOCOLS:
            raise ConfigurationError(f"{source}: security.protocol {protocol!r} is not known")
        mechanism = text("sasl.mechanism")
        if protocol.startswith("SASL_") and mechanism not in _MECHANISMS:
            raise ConfigurationError(f"{source}: sasl.mechanism {mechanism!r} is not supported")
        password = text("sasl.password")
        ca = text("ssl.ca.location")
        return cls(
            bootstrap=bootstrap,
            protocol=protocol,
            mechanism=mechanism if protocol.startswith("SASL_") else None,
            username=text("sasl.username"),
            password=Secret(password) if password is not None else None,
            ca_file=Path(ca) if ca else None,
        )


def client_config(settings: Settings, user: str) -> ClientConfig:
    """This process's config for principal `user`: LIENTHONG_KAFKA_CLIENT_CONFIG when set,
    else `<clients dir>/<user>.json` as `lienthong kafka client-config` writes it."""
    return _on_cluster(
        settings, ClientConfig.load(settings.kafka_client_config or config_path(settings, user))
    )


def config_path(settings: Settings, user: str) -> Path:
    return settings.kafka_clients_dir / f"{user}.json"


def admin_config(settings: Settings) -> ClientConfig:
    """The admin principal's config: `dev up` writes it; for a cluster of your own, put
    your admin's there (`<clients dir>/admin.json`)."""
    return _on_cluster(settings, ClientConfig.load(config_path(settings, ADMIN_FILE)))


def _on_cluster(settings: Settings, config: ClientConfig) -> ClientConfig:
    """LIENTHONG_KAFKA_BOOTSTRAP, when set, names the cluster whatever a file says."""
    if settings.kafka_bootstrap:
        return dataclasses.replace(config, bootstrap=settings.kafka_bootstrap)
    return config


def _properties(props: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


_AUTHORIZATION_ERRORS = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
)
_GROUP_CHANGED = (
    kafka_errors.CommitFailedError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.UnknownMemberIdError,
)
"""The group moved on under a consumer (a rebalance: a router joined or left, a coordinator
died): its batch goes to whoever owns the partitions now, so a retry, not a stop."""
_RETRIED = (kafka_errors.KafkaConnectionError, kafka_errors.KafkaTimeoutError, *_GROUP_CHANGED)
_AUTHENTICATION_ERRORS = (
    kafka_errors.SaslAuthenticationFailed,
    kafka_errors.AuthenticationFailedError,
    kafka_errors.AuthenticationMethodNotSupported,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
)


@contextlib.contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Turn aiokafka's errors into ours: refused credentials or rights are `AccessDenied`
    (never retried: waiting does not grant a right), the rest `KafkaUnavailable` with
    aiokafka's `retriable` flag."""
    try:
        yield
    except _AUTHORIZATION_ERRORS as exc:
        raise AccessDenied(
            ReasonCode.KAFKA_NOT_AUTHORIZED, f"{what}: {type(exc).__name__}: {exc}"
        ) from exc
    except _AUTHENTICATION_ERRORS as exc:
        raise AccessDenied(
            ReasonCode.KAFKA_AUTHENTICATION_FAILED, f"{what}: {type(exc).__name__}: {exc}"
        ) from exc
    except ssl.SSLError as exc:
        raise AccessDenied(ReasonCode.KAFKA_AUTHENTICATION_FAILED, f"{what}: TLS: {exc}") from exc
    except kafka_errors.KafkaError as exc:
        error = KafkaUnavailable(f"{what}: {type(exc).__name__}: {exc}")
        error.retriable = bool(getattr(exc, "retriable", False)) or isinstance(
            exc,
            (kafka_errors.KafkaConnectionError, kafka_errors.KafkaTimeoutError, *_GROUP_CHANGED),
        )
        raise error from exc


async def check_access(config: ClientConfig, *, timeout_ms: int = 10_000) -> None:
    """One handshake with the first reachable broker, to tell refused credentials or an
    unproven broker (`AccessDenied`, never retried) from a broker that is away
    (`KafkaUnavailable`, retriable): aiokafka's own bootstrap only logs which it was."""
    kwargs = config.aiokafka()
    last: Exception | None = None
    for address in config.bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with mapped_errors(f"cannot reach Kafka at {address}"):
                conn = await create_conn(
                    host.strip("[]"), int(port), request_timeout_ms=timeout_ms,
                    ssl_context=kwargs.get("ssl_context"), security_protocol=config.protocol,
                    sasl_mechanism=kwargs.get("sasl_mechanism"),
                    sasl_plain_username=kwargs.get("sasl_plain_username"),
                    sasl_plain_password=kwargs.get("sasl_plain_password"),
                )  # fmt: skip
        except KafkaUnavailable as exc:
            last = exc
            continue
        except (OSError, TimeoutError, ValueError) as exc:
            last = KafkaUnavailable(f"cannot reach Kafka at {address}: {exc}")
            continue
        conn.close()
        return
    raise last or ConfigurationError("no bootstrap servers are configured")


async def until_it_authenticates(config: ClientConfig, *, within: float = 20.0) -> None:
    """The controller accepted a new credential; the brokers learn it a moment later. A
    client started in between would be refused, so hand the config out once it works."""
    deadline = time.monotonic() + within
    while True:
        try:
            await check_access(config)
        except AccessDenied:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            return


@contextlib.asynccontextmanager
async def admin_client(
    config: ClientConfig, *, request_timeout_ms: int = 10_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        **config.aiokafka(),
        request_timeout_ms=request_timeout_ms,
        client_id="lienthong-admin",
    )
    try:
        with mapped_errors(f"cannot reach Kafka at {config.bootstrap}"):
            await client.start()
    except KafkaUnavailable:
        await client.close()
        await check_access(config)
        raise
    try:
        yield client
    finally:
        await client.close()


async def broker_count(config: ClientConfig) -> int:
    """Ask the cluster for its metadata: the real sign that a broker serves requests."""
    return len(await broker_ids(config))


async def broker_ids(config: ClientConfig) -> set[int]:
    """The brokers the cluster lists now: registered and not fenced."""
    async with admin_client(config) as client:
        with mapped_errors("metadata request failed"):
            cluster = await client.describe_cluster()
    return {int(broker["node_id"]) for broker in cluster["brokers"]}


async def _replication_defaults(client: AIOKafkaAdminClient) -> tuple[int, int]:
    """A broker's default.replication.factor and min.insync.replicas (the devstack writes
    the same on every broker; an operator's cluster should too)."""
    with mapped_errors("reading the brokers' replication defaults failed"):
        cluster = await client.describe_cluster()
        broker = str(cluster["brokers"][0]["node_id"])
        wanted = {_REPLICATION: None, _MIN_INSYNC: None}
        responses = await client.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, broker, wanted)]
        )
    values: dict[str, str] = {}
    for response in responses:
        for code, message, _type, _name, entries, *_ in response.resources:
            if code == _CLUSTER_AUTHORIZATION_FAILED:
                raise AccessDenied(
                    ReasonCode.KAFKA_NOT_AUTHORIZED, "this principal may not create topics"
                )
            if code != _NO_ERROR:
                raise KafkaUnavailable(f"describing broker {broker} failed ({code}): {message}")
            values.update((entry[0], entry[1]) for entry in entries)
    return int(values.get(_REPLICATION, "1")), int(values.get(_MIN_INSYNC, "1"))


@dataclasses.dataclass(frozen=True, slots=True)
class UnderReplicated:
    """A topic with fewer replicas than the cluster's default asks: made when the cluster
    was smaller. Kafka cannot change a topic's replication factor by configuration; a
    partition reassignment (`reassignment_plan`) adds the replicas."""

    topic: str
    replicas: int
    wanted: int
    partitions: tuple[tuple[int, tuple[int, ...]], ...]
    """Each partition's number and its replicas, the preferred leader first."""


async def under_replicated(config: ClientConfig, names: Sequence[str]) -> list[UnderReplicated]:
    """The topics of `names` whose partitions have fewer replicas than the brokers'
    default.replication.factor (capped at the number of brokers)."""
    if not names:
        return []
    async with admin_client(config) as client:
        wanted, _min_insync = await _replication_defaults(client)
        with mapped_errors("describing topics failed"):
            brokers = len((await client.describe_cluster())["brokers"])
            described = await client.describe_topics(sorted(names))
    wanted = min(wanted, brokers)
    found: list[UnderReplicated] = []
    for topic in described:
        if topic["error_code"] != _NO_ERROR:
            continue
        partitions = tuple(
            (int(p["partition"]), tuple(int(r) for r in p["replicas"]))
            for p in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
        )
        fewest = min((len(replicas) for _, replicas in partitions), default=wanted)
        if fewest < wanted:
            found.append(UnderReplicated(topic["topic"], fewest, wanted, partitions))
    return found


def reassignment_plan(topics: Sequence[UnderReplicated], brokers: Sequence[int]) -> dict[str, Any]:
    """Kafka's partition reassignment JSON (`kafka-reassign-partitions.sh
    --reassignment-json-file`) giving each partition `wanted` replicas: its current ones
    kept, in order (the leader stays preferred), then other brokers taken in turn so the
    new replicas spread over the cluster."""
    ring = sorted(brokers)
    partitions: list[dict[str, Any]] = []
    turn = 0
    for topic in topics:
        for number, replicas in topic.partitions:
            chosen = list(replicas)
            while len(chosen) < min(topic.wanted, len(ring)):
                candidate = ring[turn % len(ring)]
                turn += 1
                if candidate not in chosen:
                    chosen.append(candidate)
            partitions.append({"topic": topic.topic, "partition": number, "replicas": chosen})
    return {"version": 1, "partitions": partitions}


async def wait_until_ready(config: ClientConfig, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    bootstrap = config.bootstrap
    while time.monotonic() < deadline:
        try:
            if await broker_count(config) > 0:
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
    config: ClientConfig, topics: Sequence[TopicSpec], *, visible_within: float = 60.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now.

    Returns once the broker's metadata lists them (it trails the controller by a moment),
    so a caller can produce to them straight away.
    """
    if not topics:
        return []
    async with admin_client(config) as client:
        with mapped_errors("listing topics failed"):
            existing = set(await client.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        if any(t.replication_factor is None for t in missing):
            replicas, min_insync = await _replication_defaults(client)
            missing = [
                dataclasses.replace(
                    t,
                    replication_factor=replicas,
                    configs={_MIN_INSYNC: str(min(min_insync, replicas)), **t.configs},
                )
                if t.replication_factor is None
                else t
                for t in missing
            ]
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
        elif code == _TOPIC_AUTHORIZATION_FAILED:
            raise AccessDenied(
                ReasonCode.KAFKA_NOT_AUTHORIZED, f"this principal may not create topic {name}"
            )
        elif code != _TOPIC_ALREADY_EXISTS:
            message = topic_error[2] if len(topic_error) > 2 else ""
            raise KafkaUnavailable(f"creating topic {name} failed with error {code}: {message}")
    await _until_listed(config, set(created), visible_within)
    return created


async def _until_listed(config: ClientConfig, names: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with admin_client(config) as client:
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


async def delete_topics(config: ClientConfig, names: Sequence[str]) -> None:
    if not names:
        return
    async with admin_client(config) as client:
        with mapped_errors("deleting topics failed"):
            await client.delete_topics(list(names))
