"""A project-local PostgreSQL cluster from the machine's server binaries (Debian's packages).

PostgreSQL refuses to run as root, so when we are root every server command runs as the
`postgres` OS user through `runuser`. The bootstrap superuser `lienthong` gets a generated
password kept beside the data dir (mode 0600); it only creates the database and the roles of
deploy/postgres/roles.sql, whose DSN files (generated passwords, 0600) are in `roles/`.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import structlog

from kernel import database
from kernel.errors import PostgresMissing, ServiceFailed, StaleDataDir
from kernel.secrets import write_private
from kernel.settings import Settings
from lienthong import dbroles
from lienthong.devstack import processes

ROLE = "lienthong"
DATABASE = "lienthong"
OS_USER_WHEN_ROOT = "postgres"
_SERVER_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
log = structlog.get_logger(__name__)


def _major_of(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else 0


class LocalPostgres:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_as: list[str] = self._run_as()
        self.dir = self._cluster_dir()
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "run"
        self.log_file = self.dir / "postgres.log"
        self.password_file = self.dir / "password"
        self.roles_dir = self.dir / "roles"

    @staticmethod
    def _run_as() -> list[str]:
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(OS_USER_WHEN_ROOT)
        except KeyError:
            raise PostgresMissing(
                "running as root, and PostgreSQL refuses root, but there is no "
                f"'{OS_USER_WHEN_ROOT}' OS user to run it as",
                hint="install Debian's postgresql package, or run as an ordinary user",
            ) from None
        if not shutil.which("runuser"):
            raise PostgresMissing(
                "running as root needs `runuser` (util-linux) to drop to postgres"
            )
        return ["runuser", "-u", OS_USER_WHEN_ROOT, "--"]

    def _cluster_dir(self) -> Path:
        """`<state>/postgres`, unless the postgres OS user cannot reach it (a home dir of 0700).

        Then a directory under /var/tmp named after the state dir, so each checkout still has
        its own cluster.
        """
        local = self.settings.state_dir / "postgres"
        if not self.run_as or self._reachable(self.settings.state_dir):
            return local
        digest = hashlib.sha256(str(self.settings.state_dir).encode()).hexdigest()[:12]
        # A fixed, per-checkout name that only root creates; not a shared temp file.
        return Path("/var/tmp") / f"lienthong-postgres-{digest}"  # noqa: S108

    def _reachable(self, directory: Path) -> bool:
        probe = directory
        while not probe.exists():
            probe = probe.parent
        result = subprocess.run([*self.run_as, "test", "-x", str(probe)], check=False)
        return result.returncode == 0

    def bin_dir(self) -> Path:
        """LIENTHONG_POSTGRES_BIN when set (and only it), else pg_config's, else Debian's newest."""
        candidates: list[Path] = []
        if self.settings.postgres_bin:
            candidates.append(self.settings.postgres_bin)
        else:
            pg_config = shutil.which("pg_config")
            if pg_config:
                result = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=False
                )
                if result.returncode == 0:
                    candidates.append(Path(result.stdout.strip()))
            debian = Path("/usr/lib/postgresql")
            versions = debian.glob("*/bin") if debian.exists() else []
            candidates.extend(sorted(versions, key=_major_of, reverse=True))
        for candidate in candidates:
            if all((candidate / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
                return candidate
        where = (
            f" in LIENTHONG_POSTGRES_BIN={self.settings.postgres_bin}"
            if self.settings.postgres_bin
            else ""
        )
        raise PostgresMissing(
            f"the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found{where}",
            hint="install them (Debian: apt-get install postgresql), set LIENTHONG_POSTGRES_BIN, "
            "or point LIENTHONG_DATABASE_URL at an existing server",
        )

    def _server_major(self, bin_dir: Path) -> str:
        result = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        match = _SERVER_VERSION.search(result.stdout)
        if not match:
            raise PostgresMissing(
                f"cannot tell the version of {bin_dir / 'postgres'}: {result.stdout!r}"
            )
        return match[1]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def _hand_over(self, path: Path) -> None:
        if self.run_as:
            shutil.chown(path, user=OS_USER_WHEN_ROOT, group=None)

    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise ServiceFailed(
                f"the local PostgreSQL has no password file at {self.password_file}",
                hint="run `lienthong dev up` first",
            ) from None

    def dsn(self, database_name: str = DATABASE) -> str:
        return f"postgresql://{ROLE}:{self.password()}@127.0.0.1:{self.settings.postgres_port}/{database_name}"

    def pid(self) -> int | None:
        # postmaster.pid's first line is the server pid; its data dir path makes it ours.
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError, PermissionError):
            return None
        return int(first) if first.isdigit() and processes.alive(int(first)) else None

    def init(self) -> bool:
        """Create the cluster unless it exists; True when this call created it."""
        bin_dir = self.bin_dir()
        major = self._server_major(bin_dir)
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != major:
                raise StaleDataDir(
                    f"the PostgreSQL data dir {self.data_dir} is for version {found}, "
                    f"but the server binaries are version {major}",
                    hint="remove it with `lienthong dev down --wipe` (its data is lost)",
                )
            if not self.password_file.exists():
                raise StaleDataDir(
                    f"the PostgreSQL data dir {self.data_dir} was left by an earlier run "
                    f"without its password file {self.password_file}",
                    hint="remove it with `lienthong dev down --wipe` (its data is lost)",
                )
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StaleDataDir(
                f"{self.data_dir} holds files but no PostgreSQL cluster (an interrupted init?)",
                hint="remove it with `lienthong dev down --wipe`",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.dir)
        password = secrets.token_urlsafe(24)
        pwfile = write_private(self.dir / "initdb.pw", password + "\n")
        self._hand_over(pwfile)
        try:
            result = self._run(
                str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", ROLE,
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
                "--no-sync",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ServiceFailed(f"initdb failed:\n{(result.stdout + result.stderr)[-2000:]}")
        write_private(self.password_file, password + "\n")
        return True

    async def start(self) -> bool:
        """Init if needed, start unless running, create the database and the roles; True when
        started now."""
        self.init()
        started = False
        if self.pid() is None:
            processes.check_port_free(
                self.settings.postgres_port, service="PostgreSQL", setting="LIENTHONG_POSTGRES_PORT"
            )
            self.socket_dir.mkdir(exist_ok=True)
            self._hand_over(self.socket_dir)
            if not self.log_file.exists():
                # 0600: a failed ALTER ROLE … PASSWORD is logged with its statement.
                self.log_file.touch(mode=0o600)
                self._hand_over(self.log_file)
            options = " ".join(
                [
                    f"-p {self.settings.postgres_port}",
                    f"-k {self.socket_dir}",
                    "-c listen_addresses=127.0.0.1",
                    # A throwaway development cluster: durability is traded for test speed.
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            result = self._run(
                str(self.bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", options, "-w", "-t", "60", "start",
            )  # fmt: skip
            if result.returncode != 0:
                raise ServiceFailed(
                    f"PostgreSQL did not start (pg_ctl exit {result.returncode}): "
                    f"{result.stdout.strip()} {result.stderr.strip()}\n"
                    f"last lines of {self.log_file}:\n{processes.tail(self.log_file)}"
                )
            started = True
        await database.wait_until_ready(self.dsn("postgres"))
        await self._create_database()
        await self._create_roles()
        return started

    async def _create_database(self) -> None:
        conn = await database.connect(self.dsn("postgres"))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
                log.info("database created", database=DATABASE)
        finally:
            await conn.close()

    async def _create_roles(self) -> None:
        conn = await database.connect(self.dsn())
        try:
            await dbroles.create_roles(
                conn,
                base=f"postgresql://127.0.0.1:{self.settings.postgres_port}/{DATABASE}",
                directory=self.roles_dir,
            )
        finally:
            await conn.close()

    def stop(self) -> bool:
        if self.pid() is None:
            return False
        result = self._run(
            str(self.bin_dir() / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "stop",
        )
        if result.returncode != 0:
            raise ServiceFailed(
                f"PostgreSQL did not stop: {result.stdout.strip()} {result.stderr.strip()}"
            )
        return True

    def wipe(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
