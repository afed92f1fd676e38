"""promtool from Debian's `prometheus` package, to check deploy/prometheus/ in `make test`.

Installed the way clamd is (`lienthong.devstack.clamd`): apt-get when we are root and it is
missing, since the machine's other tools come from Debian's packages. Only the binary is
used; the package's own Prometheus server is never started by us.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

import structlog

from kernel.errors import EnvironmentProblem
from lienthong.devstack import processes

PROMTOOL = Path("/usr/bin/promtool")
PACKAGE = "prometheus"
log = structlog.get_logger(__name__)


def binary(log_dir: Path) -> Path:
    """promtool, installed from Debian's packages first when we may (apt output in log_dir)."""
    found = shutil.which("promtool") or (str(PROMTOOL) if PROMTOOL.exists() else None)
    if found:
        return Path(found)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EnvironmentProblem(
            "promtool was not found, and only root can install it here",
            hint=f"apt-get install {PACKAGE}",
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    install_log = log_dir / "apt-prometheus.log"
    log.info("installing prometheus (for promtool) with apt-get", log=str(install_log))
    install = ["install", "-y", "-q", "--no-install-recommends", PACKAGE]
    with install_log.open("ab") as out:
        installed = _apt(install, out) or (_apt(["update", "-q"], out) and _apt(install, out))
    if installed and PROMTOOL.exists():
        return PROMTOOL
    raise EnvironmentProblem(
        f"apt-get could not install {PACKAGE}; last lines of {install_log}:\n"
        f"{processes.tail(install_log, 15)}",
        hint="check that Debian's package mirror is reachable",
    )


def _apt(args: list[str], out: IO[bytes]) -> bool:
    result = subprocess.run(
        ["apt-get", *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False,
    )  # fmt: skip
    return result.returncode == 0
