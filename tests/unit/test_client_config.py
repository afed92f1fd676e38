"""Kafka client configs: the three file forms, and what a hostile or broken file gets."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kernel.errors import ConfigurationError
from kernel.kafka import ClientConfig
from kernel.settings import Secret

CONFIG = ClientConfig(
    bootstrap="127.0.0.1:19092", protocol="SASL_SSL", mechanism="SCRAM-SHA-512",
    username="lienthong.unit.000.00.00.H62", password=Secret('p"w\\d'),
    ca_file=Path("/etc/lienthong/ca.pem"),
)  # fmt: skip


def test_the_password_never_shows_in_a_repr() -> None:
    assert 'p"w' not in repr(CONFIG)


def test_the_java_form_quotes_the_password_for_jaas() -> None:
    text = CONFIG.java_properties()
    assert "security.protocol=SASL_SSL\n" in text
    assert "ssl.truststore.type=PEM\n" in text
    assert 'username="lienthong.unit.000.00.00.H62" password="p\\"w\\\\d";' in text
    assert "sasl.username" not in text


def test_the_librdkafka_form_has_no_java_keys() -> None:
    text = CONFIG.librdkafka_properties()
    assert "sasl.jaas.config" not in text
    assert "ssl.truststore" not in text
    assert "sasl.username=lienthong.unit.000.00.00.H62\n" in text


def test_saved_and_loaded_it_is_the_same_and_private(tmp_path: Path) -> None:
    path = tmp_path / "clients" / "unit.json"
    CONFIG.save(path)
    assert ClientConfig.load(path) == CONFIG
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_missing_file_names_the_command_that_makes_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientConfig.load(tmp_path / "absent.json")
    assert caught.value.reason == "kafka_credentials_missing"
    assert "client-config" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xff\xfe not json", "cannot read"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"security.protocol": "SASL_SSL"}).encode(), "bootstrap.servers"),
        (json.dumps({"bootstrap.servers": 9092}).encode(), "must be a string"),
        (json.dumps({"bootstrap.servers": "h:1", "security.protocol": "NOPE"}).encode(), "NOPE"),
        (
            json.dumps(
                {
                    "bootstrap.servers": "h:1",
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanism": "GSSAPI",
                }
            ).encode(),
            "GSSAPI",
        ),
    ],
)
def test_a_malformed_file_is_a_configuration_error(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=says):
        ClientConfig.load(path)


def test_tls_without_a_ca_file_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CA file"):
        ClientConfig("h:1", protocol="SSL").aiokafka()
