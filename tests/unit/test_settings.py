"""Settings come from the environment once, are validated, and never leak a secret."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel import database
from kernel.errors import ConfigurationError
from kernel.settings import MASK, Secret, Settings, mask_dsn


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "development"
    assert settings.local_kafka
    assert settings.local_postgres
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"


def test_values_are_read_with_the_prefix(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LIENTHONG_ENV": "production",
            "LIENTHONG_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
            "LIENTHONG_DATABASE_URL": "postgresql://ledger:s3cret@db:5432/lienthong",
            "LIENTHONG_STATE_DIR": str(tmp_path),
            "LIENTHONG_KAFKA_PORT": "29092",
            "KAFKA_HOME": str(tmp_path / "kafka"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
    )
    assert settings.environment == "production"
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert not settings.local_kafka
    assert not settings.local_postgres
    assert settings.state_dir == tmp_path
    assert settings.cache_dir == tmp_path / "cache" / "lienthong"
    assert settings.kafka_home == tmp_path / "kafka"
    assert settings.kafka_port == 29092


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LIENTHONG_ENV", "staging", "must be 'development' or 'production'"),
        ("LIENTHONG_KAFKA_PORT", "abc", "must be a whole number"),
        ("LIENTHONG_POSTGRES_PORT", "70000", "must be a TCP port"),
        ("LIENTHONG_KAFKA_HEAP_MB", "16", "must be at least 128"),
        ("LIENTHONG_DATABASE_SCHEMA", 'x"; DROP TABLE audit; --', "plain lower-case name"),
        ("LIENTHONG_CLAMD", "127.0.0.1:3310", "tcp://host:port, unix:/path or none"),
        ("LIENTHONG_CLAMD", "tcp://clamd", "tcp://host:port, unix:/path or none"),
        ("LIENTHONG_TOPIC_PREFIX", "lienthong.unit.x.", "one word of a-z"),
        ("LIENTHONG_TOPIC_PREFIX", "lienthong", "one word of a-z"),
        ("LIENTHONG_ROUTER_NAME", "main router", "letters, digits"),
        ("LIENTHONG_CONNECTOR_NAME", "x" * 65, "letters, digits"),
        ("LIENTHONG_ROUTER_ID", "000.00.12.H62", "never a unit code"),
        ("LIENTHONG_ROUTER_ID", "Router", "never a unit code"),
        ("LIENTHONG_MAX_CLOCK_SKEW", "-1", "must be at least 0"),
        ("LIENTHONG_MAX_ENVELOPE_AGE", "10", "must be at least 60"),
        ("LIENTHONG_JOB_SECONDS", "five", "a number of seconds"),
        ("LIENTHONG_JOB_SECONDS", "0", "above 0 and below 3600"),
        ("LIENTHONG_JOB_SECONDS", "nan", "above 0 and below 3600"),
        ("LIENTHONG_JOB_SECONDS", "inf", "above 0 and below 3600"),
        ("LIENTHONG_KAFKA_BROKERS", "2", "must be 1 or 3"),
        ("LIENTHONG_KAFKA_BROKERS", "three", "must be 1 or 3"),
        ("LIENTHONG_KAFKA_CLUSTER_PORT", "65530", "1-65527"),
        ("LIENTHONG_KAFKA_CLUSTER_HEAP_MB", "64", "must be at least 128"),
        ("LIENTHONG_ENDORSE_WAVES", "maybe", "yes or no"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        Settings.from_env({name: value})
    assert caught.value.reason == "config_invalid"


def test_one_broker_is_the_default_and_three_take_their_own_ports_and_clients() -> None:
    """The cluster runs beside the one-broker stack: no port and no credential shared."""
    one = Settings.from_env({"LIENTHONG_STATE_DIR": "/srv/state"})
    assert one.kafka_brokers == 1
    assert one.kafka_clients_dir == Path("/srv/state/kafka-clients")
    three = Settings.from_env(
        {
            "LIENTHONG_STATE_DIR": "/srv/state",
            "LIENTHONG_KAFKA_BROKERS": "3",
            "LIENTHONG_KAFKA_CLUSTER_PORT": "29100",
        }
    )
    assert three.kafka_brokers == 3
    assert three.kafka_cluster_heap_mb == 384
    assert three.kafka_clients_dir == Path("/srv/state/kafka-cluster-clients")
    assert three.kafka_bootstrap_servers == "127.0.0.1:29100,127.0.0.1:29101,127.0.0.1:29102"
    ports = [port for node in (1, 2, 3) for port in three.kafka_cluster_ports(node)]
    assert sorted(ports) == list(range(29100, 29109))
    assert three.kafka_cluster_ports(2) == (29101, 29104, 29107)
    default = Settings.from_env({"LIENTHONG_KAFKA_BROKERS": "3"})
    cluster = {port for node in (1, 2, 3) for port in default.kafka_cluster_ports(node)}
    assert not {one.kafka_port, one.kafka_controller_port} & cluster


def test_a_job_budget_may_be_a_fraction_of_a_second() -> None:
    assert Settings.from_env({"LIENTHONG_JOB_SECONDS": "0.25"}).job_seconds == 0.25


def test_secrets_are_masked_everywhere_they_could_show() -> None:
    settings = Settings.from_env({"LIENTHONG_DATABASE_URL": "postgresql://ledger:s3cret@db/x"})
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.for_log())
    assert settings.for_log()["database_url"] == "postgresql://ledger:**********@db/x"
    assert settings.database_url == Secret("postgresql://ledger:s3cret@db/x")
    assert settings.database_url is not None
    assert settings.database_url.reveal().endswith("s3cret@db/x")


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql://u:**********@h:5432/d"),
        ("postgresql://u:p%40ss@h/d", "postgresql://u:**********@h/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgresql://h/d", "postgresql://h/d"),
        # '@', '/', '?', '#' and spaces typed into a password, unencoded
        (
            "postgresql://u:p@ss@h/d?sslmode=require",
            "postgresql://u:**********@h/d?sslmode=require",
        ),
        ("postgresql://u:se/cr#et@h/d", "postgresql://u:**********@h/d"),
        ("postgresql://u:a?b c@h/d", "postgresql://u:**********@h/d"),
        ("postgresql://u:@h/d", "postgresql://u:**********@h/d"),
        ("POSTGRES://me@corp:pw@h/d", "POSTGRES://me@corp:**********@h/d"),
        # several hosts
        ("postgresql://u:pw@h1:5432,h2:5433/d", "postgresql://u:**********@h1:5432,h2:5433/d"),
        # query parameters, names percent-encoded too
        ("postgresql://u@h/d?password=s3cret", "postgresql://u@h/d?password=**********"),
        (
            "postgresql://u@h/d?sslmode=require&password=s%40cret&application_name=router",
            "postgresql://u@h/d?sslmode=require&password=**********&application_name=router",
        ),
        ("postgresql://u@h/d?pass%77ord=s3cret", "postgresql://u@h/d?pass%77ord=**********"),
        ("postgresql://u@h/d?sslpassword=keypw", "postgresql://u@h/d?sslpassword=**********"),
        ("postgresql://h:5432/d?password=x@y", "postgresql://h:**********"),
        # libpq key=value strings
        ("host=h password=s3cret dbname=d", "host=h password=********** dbname=d"),
        ("host=h password = 'se cr\\'et' dbname=d", "host=h password = ********** dbname=d"),
        ("password='never closed dbname=d", "password=**********"),
        ("password=a\\ b host=h", "password=********** host=h"),
        ("host=h PASSWORD=s3cret", "host=h PASSWORD=**********"),
        ("PGPASSWORD=s3cret psql", "PGPASSWORD=********** psql"),
        # quoted inside other text: an error message, a log line
        (
            "cannot connect to postgresql://u:p w@h/d: connection refused",
            "cannot connect to postgresql://u:**********@h/d: connection refused",
        ),
        ("no secret here", "no secret here"),
        # a URL with a port and no userinfo hides nothing (the bridge logs its endpoint)
        ("endpoint=http://127.0.0.1:8740/vxp ok", "endpoint=http://127.0.0.1:8740/vxp ok"),
    ],
)
def test_mask_dsn(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked


# A password made of any characters but line breaks; "Zq" marks where it starts.
PASSWORDS = st.text(st.characters(codec="utf-8", blacklist_characters="\r\n"), max_size=30).map(
    lambda text: "Zq" + text
)


def _libpq_quoted(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _libpq_bare(password: str) -> str:
    return re.sub(r"([\\\s'])", r"\\\1", password)


# Each way to write a DSN, given the password as it appears there.
FORMS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "userinfo": (lambda p: f"postgresql://ledger:{p}@db.stttt:5432/lienthong", str),
    "userinfo, encoded, two hosts": (
        lambda p: f"postgresql://ledger:{p}@db1:5432,db2:5433/lienthong?sslmode=require",
        lambda p: urllib.parse.quote(p, safe=""),
    ),
    "query": (
        lambda p: f"postgresql://ledger@db/lienthong?sslmode=require&password={p}&x=1",
        lambda p: urllib.parse.quote(p, safe=""),
    ),
    "libpq quoted": (lambda p: f"host=db user=ledger password={p} dbname=d", _libpq_quoted),
    "libpq bare": (lambda p: f"host=db password={p} dbname=d", _libpq_bare),
    "in a message": (lambda p: f"cannot connect to postgresql://ledger:{p}@db/x: refused", str),
}


@given(password=PASSWORDS, form=st.sampled_from(sorted(FORMS)))
def test_no_way_of_writing_a_password_shows_it(password: str, form: str) -> None:
    write, spell = FORMS[form]
    masked = mask_dsn(write(spell(password)))
    assert "Zq" not in masked
    assert spell(password) not in masked
    if "password" not in password.lower():
        assert masked == write(MASK)


@pytest.mark.parametrize(
    ("value", "address"),
    [
        (None, "tcp://127.0.0.1:13310"),
        ("none", None),
        ("tcp://av.stttt.local:3310", "tcp://av.stttt.local:3310"),
        ("unix:/run/clamav/clamd.ctl", "unix:/run/clamav/clamd.ctl"),
    ],
)
def test_the_scanner_address(value: str | None, address: str | None) -> None:
    settings = Settings.from_env({"LIENTHONG_CLAMD": value} if value else {})
    assert settings.clamd_address == address
    assert settings.local_clamd is (value is None)


@pytest.mark.parametrize(
    "dsn", ["postgresql://u:sec/ret@127.0.0.1:1/d", "postgresql://u:p@ss@127.0.0.1:notaport/d"]
)
async def test_a_malformed_dsn_is_refused_without_quoting_it(dsn: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await database.connect(dsn, timeout=2)
    text = str(caught.value)
    assert "malformed" in text
    assert "sec" not in text
    assert "ss@" not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_the_claim_check_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LIENTHONG_CLAIMS": str(tmp_path), "LIENTHONG_CLAIM_THRESHOLD": "2048",
         "LIENTHONG_MAX_ATTACHMENT_BYTES": "4096"}
    )  # fmt: skip
    assert (settings.claims_dir, settings.claim_threshold) == (tmp_path, 2048)
    assert Settings.from_env({}).claims_dir == Settings.from_env({}).state_dir / "claims"


@pytest.mark.parametrize(
    "environ",
    [
        {"LIENTHONG_CLAIM_THRESHOLD": str(11 * 1024 * 1024)},  # the router refuses it inline
        {"LIENTHONG_CLAIM_THRESHOLD": "8192", "LIENTHONG_MAX_ATTACHMENT_BYTES": "4096"},
    ],
)
def test_a_threshold_nothing_could_be_sent_under_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="LIENTHONG_CLAIM_THRESHOLD"):
        Settings.from_env(environ)


@pytest.mark.parametrize(("value", "waves"), [(None, True), ("no", False), (" YES ", True)])
def test_wave_endorsement_can_be_turned_off(value: str | None, waves: bool) -> None:
    env = {} if value is None else {"LIENTHONG_ENDORSE_WAVES": value}
    assert Settings.from_env(env).endorse_waves is waves
