"""What every fuzz harness checks, and how hard it tries.

The contract: a decoder given any input answers with a result or a `LienthongError`
carrying a `ReasonCode`, within the time budget; any other exception fails the harness.
Code the router runs in a worker process (`kernel.budget`) may also run out of stack or
memory: the pool turns those into `OverBudget`, so a harness of such code counts them as
over-budget answers rather than failures.

How hard: `LIENTHONG_FUZZ_PROFILE` picks a Hypothesis profile, `ci` (the default, the whole
directory in well under 90 s on two cores) or `fuzz` (`make fuzz`, minutes). Each harness
counts the inputs it tried; tests/fuzz/conftest.py prints them at the end of the session.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kernel.errors import LienthongError
from kernel.reasons import ReasonCode

T = TypeVar("T")

TIME_BUDGET = float(os.environ.get("LIENTHONG_FUZZ_SECONDS", "10"))
"""Seconds one input may take: twice a worker's default budget, as the machine is shared."""

for _name, _examples in (("ci", 100), ("fuzz", 5_000)):
    settings.register_profile(
        _name,
        max_examples=_examples,
        deadline=None,  # the time budget below is the contract; Hypothesis' flakes when busy
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
PROFILE = os.environ.get("LIENTHONG_FUZZ_PROFILE", "ci")
if PROFILE not in ("ci", "fuzz"):
    raise ValueError(f"LIENTHONG_FUZZ_PROFILE is ci or fuzz, not {PROFILE!r}")

tried: collections.Counter[str] = collections.Counter()
"""Inputs tried, by the harness (pytest node id) that tried them."""
answers: collections.Counter[tuple[str, str]] = collections.Counter()
"""(harness, `ok`, a reason code or `over_budget`): what the inputs got."""


def examples(ci: int, fuzz: int) -> settings:
    """The settings of one harness: `ci` inputs in CI, `fuzz` under `make fuzz`."""
    return settings(settings.get_profile(PROFILE), max_examples=ci if PROFILE == "ci" else fuzz)


def _harness() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "outside pytest")
    return current.rsplit(" (", 1)[0]


def holds(
    call: Callable[[], T], *, in_worker: bool = False, new_input: bool = True
) -> T | LienthongError | None:
    """Run one input through `call` and check the contract; the result, the refusal, or
    None when a worker's budget would have stopped it (`in_worker` only). A second decoder
    run on the same input passes `new_input=False`, so it is not counted twice."""
    harness = _harness()
    tried[harness] += new_input
    start = time.monotonic()
    outcome: T | LienthongError | None
    answer = "ok"
    try:
        outcome = call()
    except LienthongError as exc:
        outcome = exc
        answer = exc.reason.value if isinstance(exc.reason, ReasonCode) else "no reason code"
    except (RecursionError, MemoryError):
        if not in_worker:
            raise
        outcome, answer = None, "over_budget"
    answers[harness, answer] += 1
    assert answer != "no reason code", f"{outcome!r} carries no ReasonCode"
    elapsed = time.monotonic() - start
    assert elapsed < TIME_BUDGET, f"one input took {elapsed:.1f} s; the budget is {TIME_BUDGET} s"
    return outcome


_TOKENS = (b"<", b">", b"/", b"\x00", b"\xff", b"0", b"-1", b"99999999999999999999", b" ", b"\n")


@st.composite
def mutants(
    draw: st.DrawFn, seeds: Sequence[bytes], tokens: Sequence[bytes] = (), max_edits: int = 6
) -> bytes:
    """A seed with a few edits a tester would make: bytes flipped, cut, repeated, or a
    token of the format (`tokens`) spliced in. Hypothesis shrinks them towards the seed."""
    data = bytearray(draw(st.sampled_from(seeds)))
    vocabulary = (*_TOKENS, *tokens)
    for _ in range(draw(st.integers(0, max_edits))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(("flip", "cut", "repeat", "splice")))
        if edit == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
        else:
            data[at:at] = draw(st.sampled_from(vocabulary))
    return bytes(data)
