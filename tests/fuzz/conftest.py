"""Every test here is marked `fuzz`; the session ends with what each harness tried."""

from __future__ import annotations

import pytest

from tests.fuzz.contract import PROFILE, answers, tried

_seconds: dict[str, float] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/fuzz/" in str(item.path):
            item.add_marker(pytest.mark.fuzz)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/fuzz/" in report.nodeid:
        _seconds[report.nodeid] = report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Printed whatever -s or -q says: the terminal summary is pytest's own output."""
    if not tried:
        return
    terminalreporter.section(f"fuzz harnesses (profile {PROFILE})")
    for harness in sorted(tried):
        seen = sorted(
            ((answer, count) for (name, answer), count in answers.items() if name == harness),
            key=lambda pair: -pair[1],
        )
        spread = ", ".join(f"{answer} {count}" for answer, count in seen[:6])
        terminalreporter.write_line(
            f"{tried[harness]:7d} inputs {_seconds.get(harness, 0.0):6.1f} s  {harness}  [{spread}]"
        )
    terminalreporter.write_line(f"{sum(tried.values()):7d} inputs in all")
