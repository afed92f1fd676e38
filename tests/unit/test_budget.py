"""The worker pool enforces its budget itself: past the wall time the worker is killed, past
the memory cap the allocation fails in the worker, and the pool goes on with the next job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.policy.check import pdf_text
from kernel.budget import Budget, Workers
from kernel.errors import OverBudget
from kernel.reasons import ReasonCode
from lienthong.samples import minimal_pdf
from tests.hostile import slow_pdf


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def recurse(depth: int) -> int:
    return recurse(depth + 1)


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers(Budget(seconds=2, memory_mb=384, workers=1))
    yield pool
    pool.close()


async def test_each_budget_is_enforced_and_the_pool_goes_on(workers: Workers) -> None:
    for job, argument, why in (
        (pdf_text, slow_pdf(), "took longer than 2 s"),
        (allocate, 1024, "needed more than 384 MiB"),
        (recurse, 0, "nests deeper"),
    ):
        with pytest.raises(OverBudget) as caught:
            await workers.run(job, argument)
        assert caught.value.reason is ReasonCode.ATTACHMENT_TOO_COMPLEX
        assert caught.value.message.startswith(why)
    assert await workers.run(allocate, 16) == 16 * 1024 * 1024
    assert await workers.run(pdf_text, minimal_pdf("Cong van 125")) is not None
