"""Delivery states move forward only, and every party ends up agreeing.

A property test plays random status sequences through the three parties as the code runs
them: the receiver's connector checks each status against its register before sending
(an attacker may skip that and sign one itself), the router steps the ledger and routes
only what moves forward, and the sender's connector sees the routed statuses in any order.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.statuses import RANK, ROUTED, Step, state_of, step

CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")


@pytest.mark.parametrize(
    ("state", "code", "expected"),
    [
        (ROUTED, "01", Step.FORWARD),
        ("01", "06", Step.FORWARD),
        ("06", "04", Step.BACKWARDS),
        ("06", "03", Step.BACKWARDS),
        ("06", "06", Step.REPEAT),
        ("01", "02", Step.FORWARD),
        (ROUTED, "02", Step.FORWARD),
        ("03", "02", Step.BACKWARDS),
        ("06", "02", Step.BACKWARDS),
        ("02", "06", Step.BACKWARDS),
        ("06", "13", Step.NOTE),
        ("01", "15", Step.NOTE),
        ("01", "00", Step.UNKNOWN),
        ("01", "99", Step.UNKNOWN),
        ("01", ROUTED, Step.UNKNOWN),
        (None, "01", Step.FORWARD),
    ],
)
def test_each_step(state: str | None, code: str, expected: Step) -> None:
    assert step(state, code) is expected


@given(
    attempts=st.lists(st.tuples(st.sampled_from(CODES), st.booleans()), max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_ledger_and_both_registers_agree_after_any_sequence(
    attempts: list[tuple[str, bool]], order: object
) -> None:
    register, ledger, routed = "01", ROUTED, []
    crafted_forward = False
    for code, crafted in [("01", False), *attempts]:
        if not crafted:
            local = step(register, code)
            if local in (Step.BACKWARDS, Step.UNKNOWN):
                continue  # refused by the receiver's own connector, never sent
            if local is Step.FORWARD:
                register = code
        decided = step(ledger, code)
        if decided in (Step.BACKWARDS, Step.UNKNOWN):
            continue  # refused by the router, kept on the timeline, not routed
        if decided is Step.FORWARD:
            ledger = code
            crafted_forward |= crafted
        routed.append(code)
    shuffled = list(routed)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert state_of(shuffled) == ledger, "the sender's register disagrees with the ledger"
    if not crafted_forward:
        assert register == (ledger if ledger != ROUTED else "01")
    assert RANK[ledger] >= RANK["01"]


def test_a_state_never_goes_back_whatever_arrives() -> None:
    for state in RANK:
        for code in CODES:
            if step(state, code) is Step.FORWARD:
                assert RANK[code] > RANK[state]
