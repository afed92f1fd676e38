"""A large attachment end to end by reference, with each process's peak memory.

Run as its own process (`python -m tests.bench.claims [--mb 100] [--out FILE]`), so the
peaks it reads are this flow's: a router and a connector run here, as in the e2e tests,
with the connector API served; `curl` (another process) streams the file in over
POST /units/{unit}/attachments and the received copy out again; the document is sent by
reference from the province to a commune. Peak RSS is the kernel's high-water mark
(VmHWM) of this process, which holds the router and both connectors, and of each of the
router's worker processes, which read the PDF under their budget.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from connectors import api
from kernel.settings import Settings
from lienthong.devstack import stack
from tests.e2e.apiclient import token
from tests.e2e.conftest import COMMUNE_A, PROVINCE, Exchange, running_exchange

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def high_water_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process ever had."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the workers are the forkserver's children, not ours)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


async def _curl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--fail-with-body", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curl {args[0]}: {err.decode()} {out.decode()[:500]}")
    return out.decode()


async def _flow(exchange: Exchange, source: Path, folder: Path) -> dict[str, Any]:
    size = source.stat().st_size
    before = high_water_mb(os.getpid())
    auth = f"Authorization: Bearer {await token(exchange)}"
    timings: dict[str, float] = {}
    async with api.serving(exchange.connector, "127.0.0.1", 0) as port:
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        claim = json.loads(
            await _curl(
                "-X", "POST", "-H", auth, "-H", "Content-Type: application/octet-stream",
                "-T", str(source), f"{base}/units/{PROVINCE}/attachments",
            )
        )  # fmt: skip
        timings["upload_s"] = time.monotonic() - started
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(headers={"Authorization": auth.split(": ", 1)[1]}) as s,
            s.post(
                f"{base}/units/{PROVINCE}/documents",
                json={
                    "to": [COMMUNE_A],
                    "fields": {"subject": "Hồ sơ quét 100 MB", "type_name": "Công văn"},
                    "attachments": [
                        {"name": "ho-so.pdf", "media_type": "application/pdf",
                         "reference": claim["reference"]}
                    ],
                },
            ) as answer,
        ):  # fmt: skip
            sent = await answer.json()
            if answer.status != 201:
                raise RuntimeError(f"send refused: {sent}")

        async def registered() -> list[dict[str, Any]]:
            return await exchange.fetch(
                "SELECT number FROM incoming_register WHERE message_id = $1", sent["message_id"]
            )

        async def verdict() -> list[dict[str, Any]]:
            return await exchange.fetch(
                "SELECT verdict, reason_code FROM messages WHERE message_id = $1"
                " AND verdict <> 'routing'",
                sent["message_id"],
            )

        decided = await exchange.until(verdict, timeout=600, what="the router's verdict")
        if decided[0]["verdict"] != "routed":
            raise RuntimeError(f"the router did not route it: {decided[0]}")
        await exchange.until(registered, timeout=600, what="the receiver's registration")
        timings["routed_and_registered_s"] = time.monotonic() - started
        started = time.monotonic()
        received = folder / "received.pdf"
        await _curl(
            "-H", auth, "-o", str(received),
            f"{base}/units/{COMMUNE_A}/inbox/{sent['message_id']}/attachments/0",
        )  # fmt: skip
        timings["download_s"] = time.monotonic() - started
    identical = _sha256(received) == _sha256(source)
    workers = {pid: high_water_mb(pid) for pid in descendants(os.getpid())}
    service = high_water_mb(os.getpid())
    peaks = {"service (router + connectors + API)": service}
    peaks |= {f"worker {pid}": mb for pid, mb in workers.items() if mb}
    attachment_mb = size / MiB
    return {
        "status": "measured",
        "attachment_mb": round(attachment_mb, 1),
        "delivered_byte_identical": identical,
        "service_before_mb": before,
        "peak_rss_mb": peaks,
        "peak_ratio": {name: round((mb or 0) / attachment_mb, 2) for name, mb in peaks.items()},
        "service_growth_ratio": round(((service or 0) - (before or 0)) / attachment_mb, 3),
        "ceiling_ratio": 3.0,
        **{k: round(v, 1) for k, v in timings.items()},
        "note": "VmHWM of each process after the flow; the service process holds the router, "
        "the sending and the receiving connector and the API, so its figure bounds each. "
        "service_growth_ratio: how much the flow raised the service's high-water mark, over "
        "the attachment's size (a copy held whole would make it at least 1).",
    }


async def measure(megabytes: int) -> dict[str, Any]:
    settings = Settings.from_env()
    services, _ = await stack.up(settings)
    with tempfile.TemporaryDirectory(prefix="lienthong-claims-") as tmp:
        folder = Path(tmp)
        side = int((megabytes * MiB) ** 0.5)
        source = folder / "scan.pdf"
        # Written by another process: this one's high-water mark is the flow's alone.
        script = (
            "import sys; from lienthong.samples import minimal_pdf; "
            f"open(sys.argv[1], 'wb').write(minimal_pdf('Ho so quet', scan_side={side}))"
        )
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, str(source), cwd=ROOT
        )
        await writer.wait()
        async with running_exchange(settings, services, folder) as exchange:
            return await _flow(exchange, source, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "claims.json")
    args = parser.parse_args()
    result = asyncio.run(measure(args.mb))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
