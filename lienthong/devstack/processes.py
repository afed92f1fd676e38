"""Pid files, port checks and log tails: the small pieces both local services need."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from kernel.errors import PortInUse, ServiceFailed


def read_pid(pid_file: Path, marker: str) -> int | None:
    """The pid of our running service; a stale pid file is removed, a lost one rewritten.

    `marker` must appear in the process's command line, so a recycled pid is not mistaken
    for our service.
    """
    try:
        pid: int | None = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        pid = None
    if pid is not None and marker in (_cmdline(pid) or ""):
        return pid
    pid_file.unlink(missing_ok=True)
    pid = find_process(marker)
    if pid is not None:
        pid_file.write_text(f"{pid}\n")
    return pid


def _cmdline(pid: int) -> str | None:
    """The command line of a live process, or None for a gone or zombie one."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return None if _is_zombie(pid) else cmdline


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def check_port_free(port: int, *, service: str, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(
                f"port 127.0.0.1:{port} needed by {service} is already in use by another program",
                hint=f"stop that program, or choose another port with {setting}=<port>",
            ) from None


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def signal_quietly(pid: int, signum: int) -> None:
    """Send a signal to a process that may have gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def terminate(pid: int, *, service: str, grace: float = 30.0) -> None:
    """SIGTERM, wait for a clean shutdown, then SIGKILL so nothing is left behind."""
    signal_quietly(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.2)
    signal_quietly(pid, signal.SIGKILL)
    time.sleep(0.5)
    if alive(pid):
        raise ServiceFailed(f"{service} (pid {pid}) did not stop even after SIGKILL")


def stop(pid: int | None, pid_file: Path, *, service: str) -> bool:
    """Stop a daemon of ours found by its pid file; True when there was one to stop."""
    if pid is None:
        return False
    terminate(pid, service=service)
    pid_file.unlink(missing_ok=True)
    return True


async def wait_ready(
    pid: int,
    pid_file: Path,
    ready: Callable[[], Awaitable[bool]],
    *,
    service: str,
    answer: str,
    logs: Sequence[Path],
    timeout: float,
    every: float,
) -> None:
    """Poll `ready` until it says yes. A daemon that dies, or does not give `answer` within
    `timeout` (it is then stopped), fails with the last lines of its logs."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive(pid):
            stop(pid, pid_file, service=service)
            raise ServiceFailed(
                f"{service} exited while starting; last lines of {logs[0]}:\n"
                + "\n".join(tail(log, 25 if i == 0 else 10) for i, log in enumerate(logs))
            )
        if await ready():
            return
        if time.monotonic() > deadline:
            stop(pid, pid_file, service=service)
            raise ServiceFailed(
                f"{service} did not answer {answer} within {timeout:.0f}s; "
                f"last lines of {logs[0]}:\n{tail(logs[0])}"
            )
        await asyncio.sleep(every)


def tail(path: Path, lines: int = 25) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])


def find_process(marker: str) -> int | None:
    """A running process whose command line carries `marker`: a service whose pid file was lost."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if marker in (_cmdline(int(entry.name)) or ""):
            return int(entry.name)
    return None


def spawn_daemon(
    argv: list[str], *, log: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start a process that outlives this one, appending its output to `log`; return its pid.
    `env` is added to this process's environment.

    `sh` backgrounds it in a new session, prints its pid and exits, so the daemon is
    re-parented to init: no Popen object of ours is left to warn or to reap it.
    """
    script = '"$@" >>"$DAEMON_LOG" 2>&1 </dev/null & echo $!'
    result = subprocess.run(
        ["sh", "-c", script, "sh", *argv],
        env={**os.environ, **(env or {}), "DAEMON_LOG": str(log)},
        cwd=cwd,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        raise ServiceFailed(f"could not start {argv[0]}: {result.stderr.strip()}")
    return int(result.stdout.strip())
