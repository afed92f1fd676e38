"""Log lines are JSON in production, bind message_id, and carry no secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from kernel import logs
from kernel.settings import Secret, Settings


@pytest.fixture
def production_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Configured after capsys swaps stderr, so the logger writes where the test reads."""
    logs.configure(Settings.from_env({"LIENTHONG_ENV": "production"}))
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("production_logs")
def test_production_lines_are_json_with_message_id(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").bind(message_id="m-42").info("routed", topic="lienthong.unit.x")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "routed"
    assert line["message_id"] == "m-42"
    assert line["level"] == "info"
    assert "timestamp" in line


@pytest.mark.usefixtures("production_logs")
def test_secrets_never_reach_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").warning(
        "connecting",
        dsn="postgresql://ledger:s3cret@db/x",
        password="hunter2",
        key=Secret("private"),
    )
    err = capsys.readouterr().err
    assert "connecting" in err
    for leaked in ("s3cret", "hunter2", "private"):
        assert leaked not in err
    assert "postgresql://ledger:**********@db/x" in err


@pytest.mark.usefixtures("production_logs")
def test_a_dsn_in_a_message_or_a_traceback_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    log = structlog.get_logger("t")
    log.info("connecting to host=db password='s3 cret' dbname=x")
    try:
        raise ValueError("bad DSN postgresql://ledger:p@ss@db/x?sslpassword=keypw")
    except ValueError:
        log.exception("failed")
    err = capsys.readouterr().err
    for leaked in ("s3 cret", "p@ss", "keypw"):
        assert leaked not in err
    assert "postgresql://ledger:**********@db/x?sslpassword=**********" in err


@pytest.mark.usefixtures("production_logs")
def test_standard_library_log_lines_are_masked() -> None:
    record = logging.LogRecord(
        "asyncpg",
        logging.WARNING,
        __file__,
        1,
        "retrying %s",
        ("postgresql://u@db/x?password=s3cret",),
        None,
    )
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    assert handler.filter(record)
    assert handler.format(record).endswith("retrying postgresql://u@db/x?password=**********")
