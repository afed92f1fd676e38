"""promtool from Debian's `prometheus` package, to check deploy/prometheus/ in `make test`.

Installed as clamd and chromium are (`lienthong.devstack.debian`): apt-get when we are root
and it is missing, since the machine's other tools come from Debian's packages. Only the binary is
used; the package's own Prometheus server is never started by us.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kernel.errors import EnvironmentProblem
from lienthong.devstack import debian

PROMTOOL = Path("/usr/bin/promtool")
PACKAGE = "prometheus"


def binary(log_dir: Path) -> Path:
    """promtool, installed from Debian's packages first when we may (apt output in log_dir)."""
    found = shutil.which("promtool") or (str(PROMTOOL) if PROMTOOL.exists() else None)
    if found:
        return Path(found)
    debian.install(
        [PACKAGE], log_dir / "apt-prometheus.log", EnvironmentProblem,
        hint=f"apt-get install {PACKAGE}",
    )  # fmt: skip
    if not PROMTOOL.exists():
        raise EnvironmentProblem(f"apt-get installed {PACKAGE} but {PROMTOOL} is not there")
    return PROMTOOL
