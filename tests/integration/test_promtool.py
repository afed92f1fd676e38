"""deploy/prometheus/ as Prometheus itself reads it: Debian's promtool checks the rules and
the example scrape config, and runs the rule unit tests in deploy/prometheus/tests/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernel.errors import EnvironmentProblem
from lienthong.devstack import promtool
from tests.paths import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def binary() -> Path:
    try:
        return promtool.binary(ROOT / ".lienthong" / "promtool")
    except EnvironmentProblem as exc:
        pytest.skip(f"promtool cannot be installed here: {exc.message}")


def _promtool(binary: Path, *args: str) -> str:
    result = subprocess.run(
        [str(binary), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_rules_check(binary: Path) -> None:
    assert "SUCCESS" in _promtool(binary, "check", "rules", "alerts.yml")


def test_scrape_config_check(binary: Path) -> None:
    assert "SUCCESS" in _promtool(binary, "check", "config", "prometheus.yml")


def test_rule_unit_tests(binary: Path) -> None:
    assert RULE_TESTS
    output = _promtool(binary, "test", "rules", *(str(p) for p in RULE_TESTS))
    assert "FAILED" not in output


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(_names((PROMETHEUS / "alerts.yml").read_text(), "- alert: "))
    tested = {name for p in RULE_TESTS for name in _names(p.read_text(), "alertname: ")}
    assert alerts
    assert alerts <= tested, f"alerts without a rule test: {sorted(alerts - tested)}"


def _names(text: str, marker: str) -> list[str]:
    return [line.split(marker, 1)[1].strip() for line in text.splitlines() if marker in line]
