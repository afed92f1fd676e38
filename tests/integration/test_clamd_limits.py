"""A real clamd past its StreamMaxLength: it answers and hangs up mid-stream. That is a
refusal to scan (the document is held), not a scanner gone away (which would retry the
same record for ever)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.policy import malware
from kernel.settings import Settings
from lienthong.devstack.clamd import LocalClamd

MiB = 1024 * 1024


@pytest.fixture
async def small_clamd(
    settings: Settings, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[malware.Clamd]:
    """A clamd of its own whose limits are 2 MiB (the settings' largest attachment + 1)."""
    small = dataclasses.replace(settings, state_dir=tmp_path, clamd_port=unused_tcp_port)
    local = LocalClamd(dataclasses.replace(small, max_message_bytes=MiB, max_attachment_bytes=MiB))
    await local.start()
    try:
        yield malware.Clamd(local.address)
    finally:
        local.stop()


@pytest.mark.parametrize("spooled", [False, True])
async def test_past_the_stream_limit_is_not_scanned_and_held(
    small_clamd: malware.Clamd, tmp_path: Path, spooled: bool
) -> None:
    content = b"\x00" * (20 * MiB)
    source: bytes | Path = content
    if spooled:
        source = tmp_path / "spooled"
        source.write_bytes(content)
    scan = await small_clamd.scan("big.pdf", source)
    assert scan.verdict == "error"
    assert "limit" in (scan.detail or "")
    assert scan.sha256 == hashlib.sha256(content).hexdigest()


async def test_within_the_limit_it_is_scanned(small_clamd: malware.Clamd) -> None:
    scan = await small_clamd.scan("small.pdf", b"%PDF-1.7\n" + b"\x00" * 1000)
    assert scan.verdict == "clean"
