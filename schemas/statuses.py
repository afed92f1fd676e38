"""How far a delivery has come, and which status may move it: one rule for every party.

The router's ledger, the receiver's incoming register and the sender's outgoing register
all apply `step`, so after any sequence of statuses they agree. A delivery moves forward
only: routed → 01 arrived → 03 accepted → 04 assigned → 05 in progress → 06 done, skipping
ahead allowed. A refusal (02) is an answer to the arrival, so it comes before acceptance and
ends the delivery. A recall request (13) and its answers (15 agreed, 16 refused) go on the
timeline without moving the state.

Because only forward steps are accepted, the accepted codes of a delivery are ordered by
`RANK`, and `state_of` (the highest) gives the same state whatever order they arrive in:
the sender's connector may receive them out of order from different partitions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

ROUTED = "routed"
RANK: dict[str, int] = {ROUTED: 0, "01": 1, "03": 2, "04": 3, "05": 4, "06": 5, "02": 6}
"""The delivery states in the order they are reached."""
TIMELINE_ONLY = frozenset({"13", "15", "16"})
REFUSABLE = frozenset({ROUTED, "01"})
"""States from which a receiver may still refuse (02) what it received."""


class Step(enum.StrEnum):
    FORWARD = "forward"
    REPEAT = "repeat"
    NOTE = "note"
    BACKWARDS = "backwards"
    UNKNOWN = "unknown"


def step(state: str | None, code: str) -> Step:
    """What status `code` does to a delivery in `state` (None: not delivered yet)."""
    if code in TIMELINE_ONLY:
        return Step.NOTE
    if code not in RANK or code == ROUTED:
        return Step.UNKNOWN
    current = state if state in RANK else ROUTED
    if code == current:
        return Step.REPEAT
    if current == "02":
        return Step.BACKWARDS
    if code == "02":
        return Step.FORWARD if current in REFUSABLE else Step.BACKWARDS
    return Step.FORWARD if RANK[code] > RANK[current] else Step.BACKWARDS


def state_of(codes: Iterable[str]) -> str:
    """The state a set of accepted codes leaves a delivery in (order does not matter)."""
    return max((c for c in codes if c in RANK), key=RANK.__getitem__, default=ROUTED)
