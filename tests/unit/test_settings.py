"""Settings come from the environment once, are validated, and never leak a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigurationError
from kernel.settings import Secret, Settings, mask_dsn


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
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        Settings.from_env({name: value})
    assert caught.value.reason == "config_invalid"


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
    ],
)
def test_mask_dsn(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked


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
