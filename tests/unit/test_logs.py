"""Log lines are JSON in production, bind message_id, and carry no secret; third-party
libraries log through the same processors, and a refused signature prints only its verdict."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from kernel import logs
from kernel.settings import Secret, Settings
from lienthong.samples import minimal_pdf
from signing import pdf
from signing.testpki import TestPki

SENDER = "000.00.00.H62"
DAY = datetime.timedelta(days=1)
LIENTHONG = str(Path(sys.executable).parent / "lienthong")


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
def test_standard_library_log_lines_are_json_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("asyncpg.pool").warning("retrying %s", "postgresql://u@db/x?password=s3cret")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "retrying postgresql://u@db/x?password=**********"
    assert line["logger"] == "asyncpg.pool"
    assert line["level"] == "warning"
    assert "timestamp" in line


def _pyhanko_refusal() -> None:
    try:
        raise ValueError("CRL indicates the end-entity certificate was revoked")
    except ValueError as exc:
        logging.getLogger("pyhanko.sign.validation.generic_cms").warning(
            "Validation error [cert context: ...]: revoked", exc_info=exc
        )


@pytest.mark.usefixtures("production_logs")
def test_pyhanko_explaining_a_refusal_is_not_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """signing.pdf reports the refusal with its reason code; pyhanko's account is detail."""
    _pyhanko_refusal()
    logging.getLogger("aiokafka").info("joined group")
    assert capsys.readouterr().err == ""


def test_pyhanko_lines_show_when_debugging_without_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure(
        Settings.from_env({"LIENTHONG_ENV": "production", "LIENTHONG_LOG_LEVEL": "DEBUG"})
    )
    try:
        _pyhanko_refusal()
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert line["level"] == "debug"
    assert line["logger"] == "pyhanko.sign.validation.generic_cms"
    assert "exception" not in line
    assert "Traceback" not in err


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize(
    ("case", "reason"),
    [("revoked", "certificate_revoked"), ("expired", "certificate_expired")],
)
async def test_pdf_verify_prints_only_the_verdict_of_a_refused_signer(
    tmp_path: Path, environment: str, case: str, reason: str
) -> None:
    """What pyhanko used to narrate on stderr with tracebacks (it still explains why an
    expired certificate fails its own path check): one JSON line, no more."""
    pki = TestPki()
    if case == "expired":
        unit = pki.unit(SENDER, not_before=pki.now - 400 * DAY, not_after=pki.now - DAY)
    else:
        unit = pki.unit(SENDER)
        pki.revoke(unit)
    pki.write_trust(tmp_path / "trust")
    signed = tmp_path / f"{case}.pdf"
    signed.write_bytes(await pdf.sign_pdf(minimal_pdf(), unit.key, unit.chain))
    env = {k: v for k, v in os.environ.items() if k not in ("LIENTHONG_LOG_LEVEL", "LIENTHONG_ENV")}
    process = await asyncio.create_subprocess_exec(
        LIENTHONG, "pdf", "verify", "--trust", str(tmp_path / "trust"), str(signed),
        env={**env, "LIENTHONG_ENV": environment},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 1
    assert stderr.decode() == ""
    (line,) = stdout.decode().splitlines()
    verdict = json.loads(line)
    assert (verdict["ok"], verdict["reason_code"]) == (False, reason)
    assert b"Traceback" not in stdout
    assert b"Validation error" not in stdout
