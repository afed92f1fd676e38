"""Debian's chromium for the console's browser tests, driven by Playwright through
`executable_path` (Playwright's own browser download cannot reach its servers here)."""

from __future__ import annotations

import shutil
from pathlib import Path

from kernel.errors import ChromiumMissing
from kernel.settings import Settings
from lienthong.devstack import debian

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ["chromium", "fonts-dejavu-core"]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags chromium keeps calling Google's hosts, which this
network refuses; without a sandbox it runs as root in CI."""


def binary(settings: Settings) -> Path:
    """chromium, installed from Debian's packages first when we may."""
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if found:
        return Path(found)
    debian.install(
        PACKAGES,
        settings.state_dir / "chromium" / "apt.log",
        ChromiumMissing,
        hint="apt-get install chromium",
    )
    if not CHROMIUM.exists():
        raise ChromiumMissing(f"apt-get installed chromium but {CHROMIUM} is not there")
    return CHROMIUM
