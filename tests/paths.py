"""Where the tests find their inputs: their own fixtures, and `../shared` when it is there."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "edxml"
CONFORMANCE_FILES = sorted(CONFORMANCE.glob("*/*.edxml")) if CONFORMANCE.is_dir() else []

needs_conformance = pytest.mark.skipif(
    not CONFORMANCE_FILES,
    reason=f"the vendors' conformance packets are not at {CONFORMANCE} "
    "(../shared sits beside the project in CI, not on a user's machine)",
)
