"""Settings: read once from the environment at the edge (the CLI), then passed down.

Every variable has the prefix ``LIENTHONG_`` except ``KAFKA_HOME`` and ``JAVA_HOME``, which
keep their usual names so an existing Kafka or JDK install is picked up as operators expect.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from kernel.errors import ConfigurationError

PREFIX = "LIENTHONG_"
Environment = Literal["development", "production"]

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
TOPIC_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}\.$")
"""One word and a dot: a prefix can never extend another (`lienthong.unit.x.` would make
its router look like a unit of `lienthong.`, and sync would take its credentials)."""
_PRINCIPAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ROUTER_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}(\.[a-z0-9-]{1,40})?$")
"""The router's identity: a lower-case name, never of the OrganId form units have."""
_CLAMD = re.compile(r"^(tcp://[^\s:]+:\d{1,5}|unix:/\S+)$")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_PREFIX = re.compile(r"(?!/)[A-Za-z0-9!_.*'()/-]{0,200}")
"""S3's safe characters for a key, not starting at the root."""
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Secret:
    """A value that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


MASK = "**********"
# A URL runs from its scheme to the end of the line: a password may hold spaces, '/' or '@'.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\r\n]*")
_QUERY_PARAMETER = re.compile(r"[?&](?P<key>[^=&\s]*)=(?P<value>[^&\r\n]*)")
# libpq's key=value form: values are bare (backslash escapes) or single-quoted.
_KEYWORD = re.compile(
    r"(?<![\w%])\w*password\s*=\s*(?P<value>'(?:\\.|[^\\'])*(?:'|\\?\Z)|(?:\\.|\S)*)",
    re.IGNORECASE | re.DOTALL,
)


def mask_dsn(text: str) -> str:
    """Hide every password a DSN can carry, in a DSN or in any text that quotes one.

    URL userinfo (up to the last '@' on the line, so a password holding '@', '/' or spaces
    is hidden whole), `password=` and `sslpassword=` query parameters (percent-encoded names
    too), and libpq `key=value` strings, quoted or not. When unsure it hides too much.
    """
    if "://" not in text and "password" not in text.lower():
        return text
    spans: list[tuple[int, int]] = []
    for url in _URL.finditer(text):
        start = url.start() + url.group().index("://") + 3
        at = text.rfind("@", start, url.end())
        colon = text.find(":", start, at) if at != -1 else -1  # no '@': no userinfo
        if colon != -1:
            spans.append((colon + 1, at))
        for parameter in _QUERY_PARAMETER.finditer(text, start, url.end()):
            if urllib.parse.unquote(parameter["key"]).lower().endswith("password"):
                spans.append(parameter.span("value"))
    outside = _URL.sub(lambda url: " " * len(url.group()), text)
    spans.extend(keyword.span("value") for keyword in _KEYWORD.finditer(outside))
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    pieces, end = [], 0
    for first, last in merged:
        pieces += [text[end:first], MASK]
        end = last
    return "".join(pieces) + text[end:]


INLINE_ATTACHMENT_BYTES = 10 * 1024 * 1024
"""The largest attachment carried inside a record; larger ones travel by reference."""
S3_PUT_BYTES = 5 * 1024**3
"""The most S3 takes in one PUT, which is how the S3 claim store uploads."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    environment: Environment = "development"
    log_level: str = "INFO"
    state_dir: Path = Path(".lienthong")
    cache_dir: Path = Path.home() / ".cache" / "lienthong"
    kafka_bootstrap: str | None = None
    kafka_home: Path | None = None
    java_home: Path | None = None
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap_mb: int = 768
    kafka_brokers: int = 1
    """LIENTHONG_KAFKA_BROKERS: the local Kafka's size, 1 (the default, `make demo`) or 3 (a
    quorum of three combined broker+controller servers, with its own ports and state)."""
    kafka_cluster_port: int = 19192
    """LIENTHONG_KAFKA_CLUSTER_PORT: the first of the nine ports the three-broker cluster
    takes (clients, then broker-to-broker, then controllers; three each), so that it runs
    beside a one-broker stack."""
    kafka_cluster_heap_mb: int = 384
    """LIENTHONG_KAFKA_CLUSTER_HEAP_MB: each of the three servers' heap."""
    kafka_clients: Path | None = None
    """LIENTHONG_KAFKA_CLIENTS: the folder of principals' client configs (0700)."""
    kafka_client_config: Path | None = None
    """LIENTHONG_KAFKA_CLIENT_CONFIG: this process's own client config, overriding the folder."""
    router_name: str = "main"
    connector_name: str | None = None
    """LIENTHONG_CONNECTOR_NAME: this connector deployment's database role (`db connector-role`)."""
    max_message_bytes: int = 16 * 1024 * 1024
    database_url: Secret | None = None
    database_schema: str = "public"
    postgres_port: int = 15432
    postgres_bin: Path | None = None
    metrics_port: int = 9464
    connector_port: int = 8740
    connector_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    """LIENTHONG_CONNECTOR_HOSTS: Host names the connector API answers (DNS rebinding).

    Comma-separated; `name` matches with no port or the port the API serves on,
    `name:port` only that port (behind a reverse proxy)."""
    connector_origins: tuple[str, ...] = ()
    """LIENTHONG_CONNECTOR_ORIGINS: web origins (`https://host[:port]`) the API accepts a
    request from; a request naming any other `Origin` is refused. None by default."""
    console_port: int = 8750
    console_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    """LIENTHONG_CONSOLE_HOSTS: Host names the console answers, as LIENTHONG_CONNECTOR_HOSTS."""
    topic_prefix: str = "lienthong."
    submit_partitions: int = 6
    pki_dir: Path | None = None
    trust_dir: Path | None = None
    router_id: str = "lienthong-router"
    """LIENTHONG_ROUTER_ID: who signs endorsements and notices; never a unit of the directory."""
    max_clock_skew: int = 300
    """LIENTHONG_MAX_CLOCK_SKEW: seconds an envelope may say it was made after the router
    received it."""
    max_envelope_age: int = 7 * 24 * 3600
    """LIENTHONG_MAX_ENVELOPE_AGE: seconds between an envelope's making and the router's
    receiving it (long enough for an outbox that waited out an outage)."""
    policy_file: Path | None = None
    job_seconds: float = 5.0
    """LIENTHONG_JOB_SECONDS: wall time for one job on hostile content (a large edXML's
    parse, a PDF's structure and text, its signatures) in the router's worker processes;
    over it, the document is held (attachment_too_complex). Fractions allowed."""
    job_memory_mb: int = 512
    """LIENTHONG_JOB_MEMORY_MB: the address space each worker process may use."""
    job_workers: int = 2
    """LIENTHONG_JOB_WORKERS: worker processes per router."""
    endorse_waves: bool = True
    """LIENTHONG_ENDORSE_WAVES: `no` has the router sign each copy's endorsement alone, the
    form connectors and peers older than the wave endorsement read (signing.endorsement)."""
    clamd: str | None = None
    """LIENTHONG_CLAMD: tcp://host:port or unix:/path, `none` for no scanning; unset = local."""
    clamd_port: int = 13310
    claims: Path | None = None
    """LIENTHONG_CLAIMS: the claim-check store's folder (a shared filesystem when connectors
    and routers run on several machines); unset = <state dir>/claims."""
    claim_threshold: int = 4 * 1024 * 1024
    """LIENTHONG_CLAIM_THRESHOLD: attachments above this many bytes travel by reference."""
    max_attachment_bytes: int = 512 * 1024 * 1024
    """LIENTHONG_MAX_ATTACHMENT_BYTES: the largest attachment carried by reference."""
    claims_s3_endpoint: str | None = None
    """LIENTHONG_CLAIMS_S3_ENDPOINT: `http[s]://host[:port]` of an S3-compatible store that
    holds the claims instead of the folder (LIENTHONG_CLAIMS); unset = the folder."""
    claims_s3_bucket: str | None = None
    """LIENTHONG_CLAIMS_S3_BUCKET: its bucket, made beforehand by the operator."""
    claims_s3_access_key: str | None = None
    claims_s3_secret_key: Secret | None = None
    claims_s3_prefix: str = ""
    """LIENTHONG_CLAIMS_S3_PREFIX: put before every key (`lienthong/claims/`); none by default."""
    claims_s3_region: str | None = None
    """LIENTHONG_CLAIMS_S3_REGION: unset = asked of the store (one request, then cached)."""

    @property
    def claims_dir(self) -> Path:
        return self.claims or self.state_dir / "claims"

    @property
    def keys_dir(self) -> Path:
        """Where `<OrganId>/key.pem, cert.pem, chain.pem` and `router/` live (`pki init`)."""
        return self.pki_dir or self.state_dir / "pki"

    @property
    def kafka_clients_dir(self) -> Path:
        """Per topology: a principal's credentials are valid only on the cluster that made them."""
        default = "kafka-clients" if self.kafka_brokers == 1 else "kafka-cluster-clients"
        return self.kafka_clients or self.state_dir / default

    def kafka_cluster_ports(self, node: int) -> tuple[int, int, int]:
        """Node 1, 2 or 3's client, broker-to-broker and controller ports in the cluster."""
        base = self.kafka_cluster_port + node - 1
        return base, base + 3, base + 6

    @property
    def trust_store_dir(self) -> Path:
        return self.trust_dir or self.keys_dir / "trust"

    @property
    def local_kafka(self) -> bool:
        """True when lienthong runs its own Kafka rather than using a given cluster."""
        return self.kafka_bootstrap is None

    @property
    def local_postgres(self) -> bool:
        return self.database_url is None

    @property
    def local_clamd(self) -> bool:
        return self.clamd is None

    @property
    def clamd_address(self) -> str | None:
        """Where attachments are scanned; None means they are not (the ledger says so)."""
        if self.clamd == "none":
            return None
        return self.clamd or f"tcp://127.0.0.1:{self.clamd_port}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        if self.kafka_brokers == 1:
            return f"127.0.0.1:{self.kafka_port}"
        nodes = range(1, self.kafka_brokers + 1)
        return ",".join(f"127.0.0.1:{self.kafka_cluster_ports(n)[0]}" for n in nodes)

    def for_log(self) -> dict[str, Any]:
        """The settings as a log-safe dict: secrets and DSN passwords masked."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Secret):
                value = mask_dsn(value.reveal()) if "://" in value.reveal() else str(value)
            elif isinstance(value, Path):
                value = str(value)
            out[field.name] = value
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value else None

        xdg_cache = env.get("XDG_CACHE_HOME")
        default_cache = Path(xdg_cache) / "lienthong" if xdg_cache else defaults.cache_dir
        environment = get("ENV") or defaults.environment
        if environment not in ("development", "production"):
            raise ConfigurationError(
                f"LIENTHONG_ENV must be 'development' or 'production', not {environment!r}"
            )
        database_url = get("DATABASE_URL")
        schema = get("DATABASE_SCHEMA") or defaults.database_schema
        if not _SCHEMA.match(schema):
            raise ConfigurationError(
                f"LIENTHONG_DATABASE_SCHEMA must be a plain lower-case name, not {schema!r}"
            )
        settings = cls(
            environment=environment,  # type: ignore[arg-type]  # checked just above
            log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
            state_dir=_path(get("STATE_DIR")) or defaults.state_dir.resolve(),
            cache_dir=_path(get("CACHE_DIR")) or default_cache,
            kafka_bootstrap=get("KAFKA_BOOTSTRAP"),
            kafka_home=_path(env.get("KAFKA_HOME") or None),
            java_home=_path(env.get("JAVA_HOME") or None),
            kafka_port=_port(get("KAFKA_PORT"), "KAFKA_PORT", defaults.kafka_port),
            kafka_controller_port=_port(
                get("KAFKA_CONTROLLER_PORT"),
                "KAFKA_CONTROLLER_PORT",
                defaults.kafka_controller_port,
            ),
            kafka_heap_mb=_int(get("KAFKA_HEAP_MB"), "KAFKA_HEAP_MB", defaults.kafka_heap_mb, 128),
            kafka_brokers=_brokers(get("KAFKA_BROKERS")) or defaults.kafka_brokers,
            kafka_cluster_port=_port(
                get("KAFKA_CLUSTER_PORT"), "KAFKA_CLUSTER_PORT", defaults.kafka_cluster_port, 8
            ),
            kafka_cluster_heap_mb=_int(
                get("KAFKA_CLUSTER_HEAP_MB"),
                "KAFKA_CLUSTER_HEAP_MB",
                defaults.kafka_cluster_heap_mb,
                128,
            ),
            kafka_clients=_path(get("KAFKA_CLIENTS")),
            kafka_client_config=_path(get("KAFKA_CLIENT_CONFIG")),
            router_name=_name(get("ROUTER_NAME"), "ROUTER_NAME") or defaults.router_name,
            connector_name=_name(get("CONNECTOR_NAME"), "CONNECTOR_NAME"),
            max_message_bytes=_int(
                get("MAX_MESSAGE_BYTES"), "MAX_MESSAGE_BYTES", defaults.max_message_bytes, 1024
            ),
            database_url=Secret(database_url) if database_url else None,
            database_schema=schema,
            postgres_port=_port(get("POSTGRES_PORT"), "POSTGRES_PORT", defaults.postgres_port),
            postgres_bin=_path(get("POSTGRES_BIN")),
            metrics_port=_port(get("METRICS_PORT"), "METRICS_PORT", defaults.metrics_port),
            connector_port=_port(get("CONNECTOR_PORT"), "CONNECTOR_PORT", defaults.connector_port),
            connector_hosts=_names(get("CONNECTOR_HOSTS")) or defaults.connector_hosts,
            connector_origins=_names(get("CONNECTOR_ORIGINS")) or defaults.connector_origins,
            console_port=_port(get("CONSOLE_PORT"), "CONSOLE_PORT", defaults.console_port),
            console_hosts=_names(get("CONSOLE_HOSTS")) or defaults.console_hosts,
            topic_prefix=_prefix(get("TOPIC_PREFIX")) or defaults.topic_prefix,
            submit_partitions=_int(
                get("SUBMIT_PARTITIONS"), "SUBMIT_PARTITIONS", defaults.submit_partitions, 1
            ),
            pki_dir=_path(get("PKI_DIR")),
            trust_dir=_path(get("TRUST_DIR")),
            router_id=_router_id(get("ROUTER_ID")) or defaults.router_id,
            max_clock_skew=_int(
                get("MAX_CLOCK_SKEW"), "MAX_CLOCK_SKEW", defaults.max_clock_skew, 0
            ),
            max_envelope_age=_int(
                get("MAX_ENVELOPE_AGE"), "MAX_ENVELOPE_AGE", defaults.max_envelope_age, 60
            ),
            policy_file=_path(get("POLICY")),
            job_seconds=_seconds(get("JOB_SECONDS"), "JOB_SECONDS", defaults.job_seconds),
            job_memory_mb=_int(get("JOB_MEMORY_MB"), "JOB_MEMORY_MB", defaults.job_memory_mb, 128),
            job_workers=_int(get("JOB_WORKERS"), "JOB_WORKERS", defaults.job_workers, 1),
            endorse_waves=_yes(get("ENDORSE_WAVES"), "ENDORSE_WAVES", defaults.endorse_waves),
            clamd=_clamd(get("CLAMD")),
            clamd_port=_port(get("CLAMD_PORT"), "CLAMD_PORT", defaults.clamd_port),
            claims=_path(get("CLAIMS")),
            claim_threshold=_int(
                get("CLAIM_THRESHOLD"), "CLAIM_THRESHOLD", defaults.claim_threshold, 1024
            ),
            max_attachment_bytes=_int(
                get("MAX_ATTACHMENT_BYTES"),
                "MAX_ATTACHMENT_BYTES",
                defaults.max_attachment_bytes,
                1024,
            ),
            **_claims_s3(get),
        )
        if settings.claims_s3_endpoint and settings.max_attachment_bytes > S3_PUT_BYTES:
            raise ConfigurationError(
                f"LIENTHONG_MAX_ATTACHMENT_BYTES ({settings.max_attachment_bytes}) must not "
                f"exceed {S3_PUT_BYTES} with LIENTHONG_CLAIMS_S3_ENDPOINT: the most S3 takes in "
                "one upload"
            )
        if settings.claim_threshold > min(INLINE_ATTACHMENT_BYTES, settings.max_attachment_bytes):
            raise ConfigurationError(
                f"LIENTHONG_CLAIM_THRESHOLD ({settings.claim_threshold}) must not exceed the "
                f"largest attachment a record carries ({INLINE_ATTACHMENT_BYTES}) nor "
                f"LIENTHONG_MAX_ATTACHMENT_BYTES ({settings.max_attachment_bytes})"
            )
        return settings


def _claims_s3(get: Callable[[str], str | None]) -> dict[str, Any]:
    """The S3 claim store's settings: all of endpoint, bucket and keys, or none of them."""
    names = ("ENDPOINT", "BUCKET", "ACCESS_KEY", "SECRET_KEY")
    given = {name: get("CLAIMS_S3_" + name) for name in names}
    prefix = get("CLAIMS_S3_PREFIX") or ""
    region = get("CLAIMS_S3_REGION")
    if given["ENDPOINT"] is None:
        stray = [n for n, v in given.items() if v is not None]
        stray += ["PREFIX"] * bool(prefix) + ["REGION"] * bool(region)
        if stray:
            raise ConfigurationError(
                f"{', '.join(PREFIX + 'CLAIMS_S3_' + n for n in stray)} set without "
                f"{PREFIX}CLAIMS_S3_ENDPOINT"
            )
        return {}
    missing = [PREFIX + "CLAIMS_S3_" + n for n, v in given.items() if v is None]
    if missing:
        raise ConfigurationError(
            f"{PREFIX}CLAIMS_S3_ENDPOINT is set but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not"
        )
    if get("CLAIMS") is not None:
        raise ConfigurationError(
            f"{PREFIX}CLAIMS and {PREFIX}CLAIMS_S3_ENDPOINT are both set: the claim store is "
            "either a folder or a bucket"
        )
    bucket = given["BUCKET"] or ""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigurationError(
            f"{PREFIX}CLAIMS_S3_BUCKET must be an S3 bucket name (3-63 of a-z, 0-9, '.', '-'), "
            f"not {bucket!r}"
        )
    if not _S3_PREFIX.fullmatch(prefix) or ".." in prefix.split("/"):
        raise ConfigurationError(
            f"{PREFIX}CLAIMS_S3_PREFIX must be letters, digits and !_.*'()/- (at most 200, "
            f"not starting with '/'), not {prefix!r}"
        )
    if region is not None and not _REGION.fullmatch(region):
        raise ConfigurationError(f"{PREFIX}CLAIMS_S3_REGION must be a region name, not {region!r}")
    return {
        "claims_s3_endpoint": _s3_endpoint(given["ENDPOINT"] or ""),
        "claims_s3_bucket": bucket,
        "claims_s3_access_key": given["ACCESS_KEY"],
        "claims_s3_secret_key": Secret(given["SECRET_KEY"] or ""),
        "claims_s3_prefix": prefix,
        "claims_s3_region": region,
    }


def _s3_endpoint(value: str) -> str:
    """`scheme://host[:port]`, nothing else: the keys have settings of their own."""
    url = urllib.parse.urlsplit(value)
    try:
        port = url.port
    except ValueError:
        port = -1
    if (
        url.scheme not in ("http", "https")
        or any(c.isspace() for c in value.strip())
        or not url.hostname
        or url.username is not None
        or url.path not in ("", "/")
        or url.query
        or url.fragment
        or port == -1
        or port == 0
    ):
        raise ConfigurationError(
            f"{PREFIX}CLAIMS_S3_ENDPOINT must be http://host[:port] or https://host[:port], "
            f"not {value!r}"
        )
    return f"{url.scheme}://{url.netloc}"


def _brokers(value: str | None) -> int | None:
    """1 or 3: two controllers are no quorum (losing either stops both), more is not tested."""
    if value is None or value in ("1", "3"):
        return int(value) if value else None
    raise ConfigurationError(f"{PREFIX}KAFKA_BROKERS must be 1 or 3, not {value!r}")


def _prefix(value: str | None) -> str | None:
    if value is None or TOPIC_PREFIX.match(value):
        return value
    raise ConfigurationError(
        f"{PREFIX}TOPIC_PREFIX must be one word of a-z, 0-9, '_' or '-' and a dot "
        f"(like 'lienthong.'), not {value!r}"
    )


def _router_id(value: str | None) -> str | None:
    if value is None or ROUTER_ID.match(value):
        return value
    raise ConfigurationError(
        f"{PREFIX}ROUTER_ID must be a lower-case name (like 'lienthong-router'), never a unit "
        f"code, not {value!r}"
    )


def _name(value: str | None, setting: str) -> str | None:
    if value is None or _PRINCIPAL_NAME.match(value):
        return value
    raise ConfigurationError(
        f"{PREFIX}{setting} must be letters, digits, '.', '_' or '-' (at most 64), not {value!r}"
    )


def _clamd(value: str | None) -> str | None:
    if value is None or value == "none" or _CLAMD.match(value):
        return value
    raise ConfigurationError(
        f"{PREFIX}CLAMD must be tcp://host:port, unix:/path or none, not {value!r}"
    )


def _names(value: str | None) -> tuple[str, ...]:
    """A comma-separated list, lower-cased (host names and origins compare that way)."""
    return tuple(n.strip().lower() for n in (value or "").split(",") if n.strip())


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser().resolve() if value else None


def _int(value: str | None, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigurationError(f"{PREFIX}{name} must be at least {minimum}, not {number}")
    return number


def _yes(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    answer = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
    if value.strip().lower() not in answer:
        raise ConfigurationError(f"{PREFIX}{name} must be yes or no, not {value!r}")
    return answer[value.strip().lower()]


def _seconds(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(
            f"{PREFIX}{name} must be a number of seconds, not {value!r}"
        ) from None
    if not 0 < number < 3600:
        raise ConfigurationError(f"{PREFIX}{name} must be above 0 and below 3600, not {number}")
    return number


def _port(value: str | None, name: str, default: int, following: int = 0) -> int:
    """A TCP port, with room for the `following` ones a range starting there takes."""
    port = _int(value, name, default, 1)
    if port > 65535 - following:
        raise ConfigurationError(
            f"{PREFIX}{name} must be a TCP port (1-{65535 - following}), not {port}"
        )
    return port
