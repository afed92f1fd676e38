"""The benchmark's account of a round's wall time, from two scrapes of the routers'
lienthong_router_round_step_seconds."""

from __future__ import annotations

from tests.bench.router import round_profile


def test_ms_per_round_by_step_between_two_scrapes() -> None:
    before = {"ledger_read": [1.0, 10.0], "decide": [2.0, 5.0], "write": [0.5, 5.0]}
    after = {
        "ledger_read": [1.2, 30.0], "decide": [4.0, 15.0], "write": [0.6, 15.0],
        "produce": [0.3, 15.0], "mark_routed": [0.05, 15.0],
    }  # fmt: skip
    profile = round_profile(before, after, documents=400)
    assert profile == {
        "rounds": 10,
        "documents_per_round": 40.0,
        "ms_per_round": {
            "ledger_read": 20.0, "decide": 200.0, "write": 10.0, "produce": 30.0,
            "mark_routed": 5.0,
        },
    }  # fmt: skip


def test_no_round_between_the_scrapes_gives_no_profile() -> None:
    """A router from a checkout without the metric, or one that routed nothing."""
    assert round_profile({}, {}, documents=10) is None
    same = {"write": [0.5, 5.0]}
    assert round_profile(same, same, documents=10) is None
