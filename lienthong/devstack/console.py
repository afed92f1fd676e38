"""The console `make demo` leaves running, so a newcomer can look at the exchange it ran:
a `lienthong console run` daemon of this state dir, stopped by `lienthong dev down`."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from console import store
from console.accounts import Account, Role
from kernel import database
from kernel.settings import Settings
from lienthong import dbroles
from lienthong.devstack import processes
from lienthong.devstack.stack import service_dsn

DEMO_NAME = "Nguyễn Thị Minh Khai"
DEMO_UNIT = "000.00.00.H62"
"""UBND tỉnh Vĩnh Long, the sample directory's province."""
DEMO_ABBREVIATION = "ubndvl"


class LocalConsole:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.state_dir / "console"
        self.pid_file = self.dir / "console.pid"
        self.log_file = self.dir / "console.log"
        self.url = f"http://127.0.0.1:{settings.console_port}/"

    @property
    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "lienthong", "console", "run", "--port",
                str(self.settings.console_port)]  # fmt: skip

    def pid(self) -> int | None:
        return processes.read_pid(self.pid_file, " ".join(self._argv[1:]))

    async def start(self, *, timeout: float = 30.0) -> bool:
        """Start the console unless it runs already; True when this call started it."""
        if self.pid() is not None:
            return False
        processes.check_port_free(
            self.settings.console_port, service="console", setting="LIENTHONG_CONSOLE_PORT"
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        settings = self.settings
        pid = processes.spawn_daemon(
            self._argv, log=self.log_file, cwd=Path.cwd(),
            env={"LIENTHONG_STATE_DIR": str(settings.state_dir),
                 "LIENTHONG_DATABASE_SCHEMA": settings.database_schema},
        )  # fmt: skip
        self.pid_file.write_text(f"{pid}\n")

        async def ready() -> bool:
            return processes.port_open(self.settings.console_port)

        await processes.wait_ready(
            pid, self.pid_file, ready, service="console", answer="on its port",
            logs=[self.log_file], timeout=timeout, every=0.2,
        )  # fmt: skip
        return True

    def stop(self) -> bool:
        return processes.stop(self.pid(), self.pid_file, service="console")


async def demo_account(settings: Settings) -> tuple[Account, str]:
    """The demo's provincial administrator and a fresh one-time password (changed at the
    first login, as Article 9.2 wants): made at the first demo, reset at every later one."""
    conn = await database.connect(
        service_dsn(settings, dbroles.OWNER).reveal(), schema=settings.database_schema
    )
    actor = "lienthong demo"
    now = datetime.datetime.now(datetime.UTC)
    try:
        username = await conn.fetchval(
            "SELECT username FROM accounts WHERE full_name = $1 AND unit = $2 AND role = $3",
            DEMO_NAME,
            DEMO_UNIT,
            Role.PROVINCIAL_ADMIN,
        )
        if username is None:
            return await store.create(
                conn, full_name=DEMO_NAME, unit=DEMO_UNIT, abbreviation=DEMO_ABBREVIATION,
                role=Role.PROVINCIAL_ADMIN, actor=actor, now=now,
            )  # fmt: skip
        account = await store.get(conn, username)
        assert account is not None
        if account.locked:
            await store.unlock(conn, username, actor=actor, now=now)
        password = await store.reset_password(conn, username, actor=actor, now=now)
        found = await store.get(conn, username)
        assert found is not None
        return found, password
    finally:
        await conn.close()
