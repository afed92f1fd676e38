"""`lienthong console run`: the console served by uvicorn inside our own service, so that it
starts and stops like the router and the connector (start/stop, `async with`, SIGTERM and
SIGINT handled by kernel.service, not by uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Callable, Iterator

import uvicorn

from console.app import create_app
from kernel import database
from kernel.errors import ServiceFailed
from kernel.service import Service, stop_event
from kernel.settings import Settings


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Signals are the service's (kernel.service.stop_event), not uvicorn's."""
        yield


class Console(Service):
    def __init__(
        self,
        settings: Settings,
        dsn: str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        super().__init__()
        self.settings, self._dsn, self._host = settings, dsn, host
        self._port = settings.console_port if port is None else port
        self._clock = clock
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port served (the one asked for, or the one the system chose for port 0)."""
        assert self._server is not None
        assert self._server.servers
        socket = self._server.servers[0].sockets[0]
        return int(socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        pool = await self._stack.enter_async_context(
            database.pool(self._dsn, schema=self.settings.database_schema, max_size=5)
        )
        app = create_app(self.settings, pool, clock=self._clock)
        config = uvicorn.Config(
            app,
            host=self._host,
            port=self._port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            # Deployed behind a TLS reverse proxy: the client a login's rate limit counts
            # is the proxy's X-Forwarded-For, trusted only from FORWARDED_ALLOW_IPS
            # (uvicorn's default: 127.0.0.1), or every user would share the proxy's limit.
            proxy_headers=True,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        self._stack.push_async_callback(self._shutdown)
        while not self._server.started:
            if self._task.done():
                raise ServiceFailed(f"the console could not listen on {self._host}:{self._port}")
            await asyncio.sleep(0.02)

    async def _shutdown(self) -> None:
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(SystemExit):
            await self._task

    async def run(self, stop: asyncio.Event | None = None, *, handle_signals: bool = False) -> None:
        stop = stop_event(stop, handle_signals=handle_signals)
        assert self._task is not None
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({self._task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
