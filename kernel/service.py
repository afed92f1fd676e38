"""What the router and the connector share as long-running services: start/stop, use as
an async context manager, and switchable SIGTERM/SIGINT handling."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Coroutine
from types import TracebackType
from typing import Any, Self


class Service:
    """Resources opened in `start` go on `self._stack`; `stop` closes them in reverse."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def stop_event(stop: asyncio.Event | None, *, handle_signals: bool) -> asyncio.Event:
    """The event that ends a run; with `handle_signals`, SIGTERM and SIGINT set it, so the
    batch in hand is finished and committed before the process exits."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    return stop


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs, cancelled and awaited when it ends: the
    samplers beside a service's main loop, which must never outlive it."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
