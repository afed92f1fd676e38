"""Work whose cost an attacker chooses runs in worker processes, under a budget the pool
enforces rather than one trusted to the library doing the work.

A PDF of a few KiB can make text extraction run for minutes (pages sharing one stream) or
recurse until the interpreter gives up (a thousand nested arrays). On the event loop that
would stop the router. Here each job goes to a pebble process pool: a job past its wall time
has its worker killed and replaced; each worker's address space is capped (RLIMIT_AS), so an
allocation past the budget fails inside the worker, never in the service. A job over budget
raises `OverBudget`, which the policy turns into a hold for review
(`attachment_too_complex`): the document is neither refused nor crashed on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import multiprocessing
import resource
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from kernel.errors import OverBudget, WorkersUnavailable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    seconds: float = 5.0
    memory_mb: int = 512
    workers: int = 2


def _cap_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class Workers:
    """A pool of worker processes; `run` awaits one job under the budget."""

    def __init__(self, budget: Budget = Budget()) -> None:
        self.budget = budget
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPool:
        budget = self.budget
        return ProcessPool(
            max_workers=budget.workers,
            initializer=_cap_memory,
            initargs=(budget.memory_mb,),
            # Not fork: the service's threads (Kafka clients, the event loop) must not be
            # copied mid-flight into a worker.
            context=multiprocessing.get_context("forkserver"),
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        try:
            future = self._pool.schedule(function, args=args, timeout=self.budget.seconds)
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError:
            raise OverBudget(f"took longer than {self.budget.seconds:g} s") from None
        except (MemoryError, ProcessExpired):
            raise OverBudget(f"needed more than {self.budget.memory_mb} MiB") from None
        except RecursionError:
            raise OverBudget("nests deeper than the interpreter can follow") from None
        except (BrokenProcessPool, RuntimeError) as exc:
            # The pool's fault, not the record's (RecursionError, a RuntimeError, is caught
            # above): a new pool, and the batch is retried.
            self.close()
            self._pool = self._new_pool()
            raise WorkersUnavailable(f"the worker pool broke ({exc}); started anew") from exc

    async def run_all(
        self, work: Mapping[K, tuple[Callable[..., T], tuple[Any, ...]]]
    ) -> dict[K, T | str]:
        """Each job's answer, or why it is over budget. The jobs of one call together get
        twice one job's time: many slow files in one document must not hold the workers
        (and the batch) for their sum."""
        running = {key: asyncio.ensure_future(self.run(f, *a)) for key, (f, a) in work.items()}
        deadline = 2 * self.budget.seconds
        if running:
            await asyncio.wait(running.values(), timeout=deadline)
        answers: dict[K, T | str] = {}
        failure: BaseException | None = None
        for key, job in running.items():
            if not job.done():
                job.cancel()  # pebble kills the worker that runs it
                answers[key] = f"was not done within the document's {deadline:g} s"
                continue
            error = job.exception()
            if isinstance(error, OverBudget):
                answers[key] = error.message
            elif error is not None:
                failure = failure or error
            else:
                answers[key] = job.result()
        if failure is not None:
            raise failure
        return answers

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join()
