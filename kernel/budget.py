"""Work whose cost an attacker chooses runs in worker processes, under a budget the pool
enforces rather than one trusted to the library doing the work.

A PDF of a few KiB can make text extraction run for minutes (pages sharing one stream) or
recurse until the interpreter gives up (a thousand nested arrays). On the event loop that
would stop the router. Here each job goes to a pebble process pool: a job past its wall time
has its worker killed and replaced (and one that finished past it before the pool's timer
looked is over budget all the same); each worker's address space is capped (RLIMIT_AS), so an
allocation past the budget fails inside the worker, never in the service. A job over budget
raises `OverBudget`, which the policy turns into a hold for review
(`attachment_too_complex`): the document is neither refused nor crashed on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import importlib.util
import multiprocessing
import resource
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from kernel.errors import JobFailed, OverBudget, WorkersUnavailable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Failed(Exception):
    """What a job raised, as text: picklable whatever the original was."""


def _contained(function: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Runs in the worker; answers with how long the job ran and its result. Running out
    of stack or memory is the budget's to report; any other exception comes back as its
    type and message, never as an object that might not unpickle (which would break the
    pool rather than fail the job)."""
    started = time.monotonic()
    try:
        result = function(*args)
        return time.monotonic() - started, result
    except (RecursionError, MemoryError):
        raise
    except BaseException as exc:
        raise _Failed(f"{type(exc).__name__}: {str(exc)[:500]}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    seconds: float = 5.0
    memory_mb: int = 512
    workers: int = 2


def _preloadable(modules: Sequence[str]) -> list[str]:
    """The modules the fork server may import for the workers: none if the current
    directory holds another package of their name. (Python 3.11's fork server imports with
    the current directory first on its path, not with the service's path: a router started
    from another checkout, or from a directory others write to, would have its workers run
    that code.)"""
    here = Path.cwd()
    for name in modules:
        top = name.partition(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None:
            return []
        ours = Path(spec.origin).resolve().parent
        for shadow in (here / top / "__init__.py", here / f"{top}.py"):
            if shadow.exists() and shadow.resolve().parent != ours:
                return []
    return list(modules)


def _cap_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class Workers:
    """A pool of worker processes; `run` awaits one job under the budget."""

    def __init__(self, budget: Budget = Budget(), *, preload: Sequence[str] = ()) -> None:
        """`preload`: modules the fork server imports once, so that a worker (a new one
        after every job killed over its budget) starts in milliseconds, not in the second
        importing pypdf and pyhanko takes: the price of a hostile PDF stays its budget."""
        self.budget = budget
        self.preload = _preloadable(preload)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPool:
        budget = self.budget
        # Not fork: the service's threads (Kafka clients, the event loop) must not be
        # copied mid-flight into a worker.
        context = multiprocessing.get_context("forkserver")
        if self.preload:
            context.set_forkserver_preload(self.preload)
        return ProcessPool(
            max_workers=budget.workers,
            initializer=_cap_memory,
            initargs=(budget.memory_mb,),
            context=context,
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        seconds = self.budget.seconds
        return await self._answer(self._schedule(function, args, seconds), seconds)

    def _schedule(
        self, function: Callable[..., T], args: tuple[Any, ...], seconds: float
    ) -> ProcessFuture[tuple[float, T]]:
        try:
            return self._pool.schedule(_contained, args=(function, *args), timeout=seconds)
        except RuntimeError as exc:  # pebble: the pool is no longer running
            raise self._rebuilt(exc) from exc

    async def _answer(self, future: ProcessFuture[tuple[float, T]], seconds: float) -> T:
        try:
            took, result = await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError:
            raise OverBudget(f"took longer than {seconds:g} s") from None
        except (MemoryError, ProcessExpired):
            raise OverBudget(f"needed more than {self.budget.memory_mb} MiB") from None
        except RecursionError:
            raise OverBudget("nests deeper than the interpreter can follow") from None
        except _Failed as exc:
            raise JobFailed(str(exc)) from None
        except BrokenProcessPool as exc:
            raise self._rebuilt(exc) from exc
        if took > seconds:
            # Done before the pool's timer looked (it checks now and then): over all the same.
            raise OverBudget(f"took {took:.3g} s, longer than {seconds:g} s")
        return result

    def _rebuilt(self, exc: BaseException) -> WorkersUnavailable:
        """The pool's fault, not the record's: a new pool, and the batch is retried."""
        self.close()
        self._pool = self._new_pool()
        return WorkersUnavailable(f"the worker pool broke ({exc!r}); started anew")

    async def run_all(
        self, work: Mapping[K, tuple[Callable[..., T], tuple[Any, ...]]], *, shares: int = 1
    ) -> dict[K, T | OverBudget | JobFailed]:
        """Each job's answer, or why it has none (over budget, or failed). The jobs of one
        call together get twice one job's time from when the first of them starts (not
        while they wait for a worker): many slow files in one document must not hold the
        workers, and the batch, for their sum. A job that does the work of `shares` jobs
        in one trip gets their time, within the same deadline."""
        seconds = shares * self.budget.seconds
        futures = {key: self._schedule(f, args, seconds) for key, (f, args) in work.items()}
        running: dict[K, asyncio.Future[T]] = {
            key: asyncio.ensure_future(self._answer(f, seconds)) for key, f in futures.items()
        }
        deadline = 2 * self.budget.seconds
        try:
            # A pebble future tells no one when it starts; a poll is the only way. It starts
            # short, as a free worker takes a job within a millisecond or two: a fixed 20 ms
            # poll held every document that long, and the router at 8 in flight to 300/s.
            pause = 0.0005
            while running and not any(f.running() or f.done() for f in futures.values()):
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.02)
            if running:
                await asyncio.wait(running.values(), timeout=deadline)
            answers: dict[K, T | OverBudget | JobFailed] = {}
            for key, job in running.items():
                if not job.done():
                    answers[key] = OverBudget(f"was not done within the document's {deadline:g} s")
                    continue
                error = job.exception()
                if isinstance(error, OverBudget | JobFailed):
                    answers[key] = error
                elif error is not None:
                    raise error  # the pool's (WorkersUnavailable): the batch is retried
                else:
                    answers[key] = job.result()
            return answers
        finally:
            for key, job in running.items():
                job.cancel()
                futures[key].cancel()  # type: ignore[no-untyped-call]  # kills its worker

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join()
