"""Installing a Debian package the local stack needs (clamav-daemon, chromium), as root and
only when it is missing: the machine's services come from Debian's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

import structlog

from kernel.errors import EnvironmentProblem
from lienthong.devstack import processes

log = structlog.get_logger(__name__)


def install(
    packages: list[str], install_log: Path, missing: type[EnvironmentProblem], hint: str
) -> None:
    """apt-get install `packages`; on failure refresh the package lists (a fresh machine's
    may be missing or stale) and try once more. `missing` is raised, with `hint`, when we
    may not (not root, no apt-get) or apt-get fails."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise missing(
            f"{' '.join(packages)} is missing, and only root can install it here", hint=hint
        )
    install_log.parent.mkdir(parents=True, exist_ok=True)
    log.info("installing with apt-get", packages=packages, log=str(install_log))
    command = ["install", "-y", "-q", "--no-install-recommends", *packages]
    with install_log.open("ab") as out:
        if _apt(command, out) or (_apt(["update", "-q"], out) and _apt(command, out)):
            return
    raise missing(
        f"apt-get could not install {' '.join(packages)}; last lines of {install_log}:\n"
        f"{processes.tail(install_log, 15)}",
        hint="check that Debian's package mirror is reachable",
    )


def _apt(args: list[str], out: IO[bytes]) -> bool:
    result = subprocess.run(
        ["apt-get", *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False,
    )  # fmt: skip
    return result.returncode == 0
